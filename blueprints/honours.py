"""Honour pages: campaigns, nominating and consenting, voting, the staff review (figures, flags, objections), the
public notice (公示) and honour roll (no sign-in), honour certificates and their public check.

Every rule lives in domain/honours/ (who may do what in domain/access.py); these views load what they name (404
outside the caller's scope, 403 for those who see a campaign but may not act on it), make one domain call and
redirect or render; the request's boundary commits.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from blueprints import photos as photo_files
from blueprints.bounds import Form, Visible
from blueprints.certificates import look_up
from blueprints.ext import limited, photos_limited, verify_limited
from blueprints.forms import attempt, pdf_response
from domain import certificates, honours, photos, qr
from domain.access import can, get_visible
from domain.errors import DomainError, NotFound
from domain.labels import (
    CAMPAIGN_KIND_NAMES,
    campaign_kind_name,
    flag_status_name,
    nomination_status_name,
    objection_status_name,
    phase_name,
    place_name,
)
from domain.ledger import SHANGHAI
from domain.membership import communities_of
from domain.org import community_of
from models import Area, CampaignKind, Objection, Phase, VoteFlag, transaction, utcnow
from models.honours import PHASES, PUBLIC_STATUSES

bp = Blueprint("honours", __name__)

for _filter in (campaign_kind_name, phase_name, nomination_status_name, objection_status_name, flag_status_name):
    bp.add_app_template_filter(_filter)


@bp.app_template_global()
def honours_of(person) -> list:
    """Honours shown on a person's profile."""
    return honours.honours_of(person)


@bp.app_template_global()
def honour_title(honour) -> str:
    return honours.honour_title(honour)


@bp.app_template_global()
def roll_name(person) -> str:
    return honours.roll_name(person)


@bp.app_template_global()
def honour_tier(honour) -> str:
    """The head title a best-head honour was for ('楼栋长'), or ''."""
    return honours.tier_name(honour.campaign, honour.tier)


# --- forms ------------------------------------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    """The first moment of a day in Beijing: when a phase given by its first day opens."""
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI)


def _day_end(day: date) -> datetime:
    """The midnight after a day in Beijing: when a phase given by its last day closes (at 24:00)."""
    return _day_start(day + timedelta(days=1))


def _last_day(moment: datetime) -> date:
    """The last day of a phase that closes at `moment` (its 24:00), in Beijing."""
    return (moment - timedelta(seconds=1)).astimezone(SHANGHAI).date()


#: A date field's own error when left empty, instead of the generic "This field is required".
_DATE_REQUIRED = DataRequired(message=_l("Choose a date."))


class CampaignPageForm(Form):
    """Phases by whole days (Beijing): each opens at 00:00 of its first day and closes at 24:00 of its last."""

    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, CAMPAIGN_KIND_NAMES[k.value]) for k in CampaignKind])
    title = StringField(_l("Name of the campaign"), validators=[Optional(), Visible(), Length(max=100)])
    description = TextAreaField(_l("What the honour is for"), validators=[Optional(), Length(max=2000)])
    nominate_from = DateField(_l("Nominations from"), validators=[_DATE_REQUIRED])
    nominate_until = DateField(_l("Nominations until"), validators=[_DATE_REQUIRED])
    vote_from = DateField(_l("Voting from"), validators=[_DATE_REQUIRED])
    vote_until = DateField(_l("Voting until"), validators=[_DATE_REQUIRED])
    review_until = DateField(_l("Review until"), validators=[_DATE_REQUIRED])
    notice_days = IntegerField(_l("Public notice (working days)"), default=honours.NOTICE_DAYS,
                               validators=[InputRequired(), NumberRange(1, honours.MAX_NOTICE_DAYS)])
    seats = IntegerField(_l("People to honour"), default=honours.DEFAULT_SEATS,
                         validators=[Optional(), NumberRange(0, honours.MAX_SEATS)])
    seats_grid = IntegerField(_l("Grid heads"), default=honours.DEFAULT_HEAD_SEATS[1],
                              validators=[Optional(), NumberRange(0, honours.MAX_SEATS)])
    seats_building = IntegerField(_l("Building heads"), default=honours.DEFAULT_HEAD_SEATS[2],
                                  validators=[Optional(), NumberRange(0, honours.MAX_SEATS)])
    seats_unit = IntegerField(_l("Unit heads"), default=honours.DEFAULT_HEAD_SEATS[3],
                              validators=[Optional(), NumberRange(0, honours.MAX_SEATS)])
    votes_per_voter = IntegerField(_l("Votes per resident"), default=honours.DEFAULT_VOTES,
                                   validators=[InputRequired(), NumberRange(1, honours.MAX_VOTES)])
    points = IntegerField(_l("Points for each winner"),
                          validators=[Optional(), NumberRange(0, honours.MAX_POINTS)])
    self_nomination = BooleanField(_l("Residents may nominate themselves"))

    def fill_defaults(self, today: date) -> None:
        for name, days in (("nominate_from", 0), ("nominate_until", 6), ("vote_from", 7), ("vote_until", 13),
                           ("review_until", 16)):
            getattr(self, name).data = today + timedelta(days=days)

    def campaign_form(self) -> honours.CampaignForm:
        if self.kind.data == CampaignKind.best_head:
            seats = {1: self.seats_grid.data or 0, 2: self.seats_building.data or 0, 3: self.seats_unit.data or 0}
        else:
            seats = self.seats.data if self.seats.data is not None else None
        return honours.CampaignForm(
            kind=self.kind.data, title=self.title.data, description=self.description.data,
            nominate_from=_day_start(self.nominate_from.data), nominate_until=_day_end(self.nominate_until.data),
            vote_from=_day_start(self.vote_from.data), vote_until=_day_end(self.vote_until.data),
            review_until=_day_end(self.review_until.data), notice_days=self.notice_days.data, seats=seats,
            votes_per_voter=self.votes_per_voter.data, points=self.points.data,
            self_nomination=self.self_nomination.data)


class CampaignDatesForm(Form):
    """A campaign's dates changed by whole days (Beijing), as CampaignPageForm takes them. Dates that can no longer
    change (`locked`, from honours.date_locks) are shown disabled and not sent; a date sent as it was shown keeps
    its exact moment."""

    nominate_from = DateField(_l("Nominations from"), validators=[Optional()])
    nominate_until = DateField(_l("Nominations until"), validators=[Optional()])
    vote_from = DateField(_l("Voting from"), validators=[Optional()])
    vote_until = DateField(_l("Voting until"), validators=[Optional()])
    review_until = DateField(_l("Review until"), validators=[Optional()])
    notice_days = IntegerField(_l("Public notice (working days)"),
                               validators=[Optional(), NumberRange(1, honours.MAX_NOTICE_DAYS)])
    announce_at = DateField(_l("Announce no earlier than"), validators=[Optional()])

    def __init__(self, campaign, locked: dict, **kwargs):
        super().__init__(**kwargs)
        self.campaign, self.locked = campaign, locked

    def fill(self) -> None:
        for name in honours.SCHEDULE_FIELDS:
            self[name].data = self._shown(name)

    def _shown(self, name: str):
        """The campaign's value as the form shows it: a phase's first or last day, the notice's length."""
        value = getattr(self.campaign, name)
        if not isinstance(value, datetime):
            return value
        return value.astimezone(SHANGHAI).date() if honours.SCHEDULE_FIELDS[name].starts else _last_day(value)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for name in honours.SCHEDULE_FIELDS:
            field = self[name]
            if name not in self.locked and name != "announce_at" and field.data is None and not field.errors:
                field.errors.append(_("Choose a date.") if name != "notice_days" else _("Give a number of days."))
                valid = False
        return valid

    def changes(self) -> dict:
        """The fields changed from what was shown, as the campaign's values (honours.reschedule)."""
        changed = {}
        for name, field in honours.SCHEDULE_FIELDS.items():
            data = self[name].data
            if name in self.locked or data == self._shown(name):
                continue
            if data is None or name == "notice_days":
                changed[name] = data
            else:
                changed[name] = _day_start(data) if field.starts else _day_end(data)
        return changed


class NominateForm(Form):
    """Whom (a head from the list for best heads, a phone number otherwise, or oneself where allowed) and why. Each
    missing answer is one error on its own field."""

    nominee = SelectField(_l("Head to nominate"), validate_choice=False)
    nominee_phone = StringField(_l("Phone number of the person you nominate"), validators=[Optional(), Length(max=20)])
    myself = BooleanField(_l("I nominate myself"))
    reason = TextAreaField(_l("Why do they deserve it?"), validators=[
        DataRequired(message=_l("Say why they deserve it.")), Length(max=honours.REASON_MAX)])
    photos = MultipleFileField(_l("Photos (optional, at most 3)"))

    def __init__(self, campaign, **kwargs):
        super().__init__(**kwargs)
        self.campaign = campaign

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.myself.data and self.campaign.self_nomination:
            return valid
        best_head = self.campaign.kind == CampaignKind.best_head
        whom = self.nominee if best_head else self.nominee_phone
        if not (whom.data or "").strip() and not whom.errors:
            whom.errors.append(_("Choose a head.") if best_head else _("Give the phone number of the person you "
                                                                          "nominate."))
            valid = False
        return valid


class NoteForm(Form):
    """A staff decision: the button pressed says which way; the domain requires the note."""

    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=honours.NOTE_MAX)])


class ObjectionForm(Form):
    """The domain refuses an objection without a reason or a real name, with its own messages."""

    nomination_id = SelectField(_l("Nominee"), validate_choice=False)
    real_name = StringField(_l("Your full name (as registered)"), validators=[Optional(), Visible(), Length(max=50)])
    reason = TextAreaField(_l("Your objection and what it rests on"),
                           validators=[Optional(), Length(max=honours.REASON_MAX)])


class ButtonForm(Form):
    """A button that posts: only the CSRF token."""


# --- helpers ------------------------------------------------------------------------------------------------------


def _back(campaign_id: int):
    return redirect(url_for("honours.show", campaign_id=campaign_id))


def _timeline(campaign) -> list[dict]:
    """The phases with their dates, for the steps at the top of a campaign's pages."""
    notice = (campaign.notice_from, campaign.notice_until)
    dates = {Phase.nomination: (campaign.nominate_from, campaign.nominate_until),
             Phase.voting: (campaign.vote_from, campaign.vote_until),
             Phase.review: (campaign.vote_until, campaign.review_until),
             Phase.notice: notice if notice[0] else (None, None),
             Phase.announced: (campaign.announced_at or campaign.announce_at, None)}
    current = PHASES.index(campaign.phase)
    # A phase ends at the first moment after it: its last day is the one before (Beijing).
    return [{"phase": phase, "from": dates[phase][0], "until": dates[phase][1],
             "last": dates[phase][1] - timedelta(seconds=1) if dates[phase][1] else None,
             "state": "done" if i < current else "current" if i == current else "next"}
            for i, phase in enumerate(PHASES)]


def _attempt(form: Form, action, done) -> object | None:
    """forms.attempt for a form shown again on a refusal: a refusal about fields of the form is said once, on those
    fields, with no flash repeating it in other words; a refusal about none of them is flashed."""
    try:
        result = action()
    except DomainError as error:
        transaction.abandon()
        named = {name: messages for name, messages in (error.fields or {}).items() if name in form}
        for name, messages in named.items():
            form[name].errors = [*form[name].errors, *(str(m) for m in messages)]
        if not named:
            flash(str(error.message), "error")
        return None
    flash(str(done), "success")
    return result


def _post(form: Form, action, done) -> object | None:
    """Run the domain call of a posted form, or say what is wrong with the form (an old CSRF token, too long)."""
    if form.validate_on_submit():
        return attempt(form, action, done)
    problems = [str(e) for errors in form.errors.values() for e in errors]
    flash(problems[0] if problems else _("The form could not be sent. Please try again."), "error")
    return None


def _verify_url(number: str) -> str:
    return url_for("honours.verify", number=number, _external=True)


# --- campaigns ------------------------------------------------------------------------------------------------------


@bp.route("/campaigns")
@login_required
def index():
    found = honours.campaigns_for(current_user)
    waiting = [n for c in found for n in honours.mine(c, current_user)
               if n.nominee_id == current_user.id and n.status.value == "pending"]
    return render_template("honours/list.html", campaigns=found, waiting=waiting,
                           creatable=honours.creatable_areas(current_user), rolls=communities_of(current_user))


@bp.route("/areas/<int:area_id>/campaigns/new", methods=["GET", "POST"])
@login_required
def new(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    if area.level not in honours.SCOPE_LEVELS:
        raise NotFound("not_found", _("Not found."))
    form = CampaignPageForm()
    if request.method == "GET":
        form.fill_defaults(utcnow().astimezone(SHANGHAI).date())
    if form.validate_on_submit():
        campaign = _attempt(form, lambda: honours.open_campaign(current_user, area, form.campaign_form()),
                            _("The campaign is open."))
        if campaign is not None:
            return _back(campaign.id)
    return render_template("honours/form.html", form=form, area=area, rule_points=honours.award_rule(area))


@bp.route("/campaigns/<int:campaign_id>")
@login_required
def show(campaign_id: int):
    campaign = honours.visible(current_user, campaign_id)
    now = utcnow()
    candidates = honours.nominations(campaign, PUBLIC_STATUSES)
    in_scope = honours.lives_in(current_user, campaign.area)
    manager = can(current_user, "campaign.manage", campaign)
    winners = honours.honours(campaign)
    return render_template(
        "honours/show.html", campaign=campaign, now=now, timeline=_timeline(campaign), candidates=candidates,
        mine=honours.mine(campaign, current_user), in_scope=in_scope, manager=manager,
        may_nominate=can(current_user, "campaign.nominate", campaign) and campaign.phase == Phase.nomination
        and campaign.nominate_from <= now < campaign.nominate_until,
        voting_open=campaign.phase == Phase.voting and campaign.vote_from <= now < campaign.vote_until,
        votes_left=honours.votes_left(campaign, current_user) if in_scope else 0,
        voted=honours.voted_for(campaign, current_user), shows_tallies=can(current_user, "campaign.tallies", campaign),
        step=honours.next_step(campaign, now) if manager else None,
        reschedulable=manager and len(honours.date_locks(campaign, now)) < len(honours.SCHEDULE_FIELDS),
        open_flags=len(honours.flags(campaign, open_only=True)) if manager else 0,
        winners=winners, my_honour=next((h for h in winners if h.person_id == current_user.id), None),
        tier_name=lambda tier: honours.tier_name(campaign, tier),
        roll_id=(community_of(campaign.area) or campaign.area).id, button=ButtonForm())


@bp.route("/campaigns/<int:campaign_id>/dates", methods=["GET", "POST"])
@login_required
def dates(campaign_id: int):
    """Staff change the dates still to come; those of a phase that has started or ended are shown, not offered."""
    campaign = honours.managed(current_user, campaign_id)
    locks = honours.date_locks(campaign)
    form = CampaignDatesForm(campaign, locks)
    if request.method == "GET":
        form.fill()
    elif form.validate_on_submit():
        changes = form.changes()
        if not changes:
            flash(_("Nothing was changed."), "warning")
            return _back(campaign.id)
        if _attempt(form, lambda: honours.reschedule(current_user, campaign, changes),
                    _("The new dates are saved.")) is not None:
            return _back(campaign.id)
    return render_template("honours/dates.html", campaign=campaign, form=form, locks=locks,
                           timeline=_timeline(campaign))


@bp.route("/campaigns/<int:campaign_id>/advance", methods=["POST"])
@login_required
def advance(campaign_id: int):
    campaign = honours.visible(current_user, campaign_id)
    step = honours.next_step(campaign)
    _post(ButtonForm(), lambda: honours.advance(current_user, campaign),
          _("The campaign has moved on to: %(phase)s.", phase=phase_name(step.to)) if step else "")
    return _back(campaign.id)


# --- nominations ------------------------------------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/nominate", methods=["GET", "POST"])
@photos_limited()
@login_required
def nominate(campaign_id: int):
    campaign = honours.visible(current_user, campaign_id)
    if not can(current_user, "campaign.nominate", campaign):
        abort(403)
    form = NominateForm(campaign)
    best_head = campaign.kind == CampaignKind.best_head
    posts = honours.heads_in(campaign) if best_head else []
    form.nominee.choices = [SelectChoice("", _("Choose a head"))] + [
        SelectChoice(str(p.user_id), f"{p.user.name} · {honours.tier_name(campaign, p.tier)} · {place_name(p.area)}")
        for p in posts]
    if form.validate_on_submit():
        nomination = _attempt(form, lambda: _nominate(campaign, form), _("Thank you: your nomination is in."))
        if nomination is not None:
            return redirect(url_for("honours.nomination", nomination_id=nomination.id))
    now = utcnow()
    open_now = campaign.phase == Phase.nomination and campaign.nominate_from <= now < campaign.nominate_until
    return render_template("honours/nominate.html", campaign=campaign, form=form, best_head=best_head,
                           open_now=open_now)


def _nominate(campaign, form: NominateForm):
    """Find the nominee, keep the photos and nominate; the photos go again if the nomination is refused."""
    if form.myself.data and campaign.self_nomination:
        nominee = current_user
    elif campaign.kind == CampaignKind.best_head:
        choice = form.nominee.data or ""
        post = next((p for p in honours.heads_in(campaign) if str(p.user_id) == choice), None)
        if post is None:
            raise DomainError("nominee_required", _("Choose a head."), {"nominee": [_("Choose a head.")]})
        nominee = post.user
    else:
        nominee = honours.person_by_phone(campaign, form.nominee_phone.data)
    files = [f for f in (form.photos.data or []) if getattr(f, "filename", "")]
    if len(files) > honours.MAX_PHOTOS:
        raise DomainError("too_many_photos", _("At most 3 photos."), {"photos": [_("At most 3 photos.")]})
    saved: list[str] = []
    try:
        for upload in files:
            saved.append(photos.save(upload.stream))
        return honours.nominate(current_user, campaign, nominee, reason=form.reason.data, photos=saved)
    except DomainError:
        for name in saved:
            photos.delete(name)
        raise


@bp.route("/nominations/<int:nomination_id>")
@login_required
def nomination(nomination_id: int):
    found = honours.visible_nomination(current_user, nomination_id)
    campaign = found.campaign
    return render_template("honours/nomination.html", nomination=found, campaign=campaign,
                           manager=can(current_user, "campaign.manage", campaign),
                           tier_name=honours.tier_name(campaign, found.tier),
                           shows_tallies=can(current_user, "campaign.tallies", campaign), button=ButtonForm())


@bp.route("/nominations/<int:nomination_id>/photos/<name>")
@login_required
def photo(nomination_id: int, name: str):
    found = honours.visible_nomination(current_user, nomination_id)
    if name not in (found.photos or []):
        raise NotFound("not_found", _("Not found."))
    return photo_files.send(name)


@bp.route("/nominations/<int:nomination_id>/answer", methods=["POST"])
@login_required
def answer(nomination_id: int):
    found = honours.visible_nomination(current_user, nomination_id)
    consent = request.form.get("consent") == "1"
    _post(ButtonForm(), lambda: honours.answer(current_user, found, consent=consent),
          _("Thank you: you stand as a candidate.") if consent else _("You have declined the nomination."))
    return redirect(url_for("honours.nomination", nomination_id=found.id))


@bp.route("/nominations/<int:nomination_id>/withdraw", methods=["POST"])
@login_required
def withdraw(nomination_id: int):
    found = honours.visible_nomination(current_user, nomination_id)
    _post(ButtonForm(), lambda: honours.withdraw(current_user, found), _("You have withdrawn from the campaign."))
    return redirect(url_for("honours.nomination", nomination_id=found.id))


@bp.route("/nominations/<int:nomination_id>/vote", methods=["POST"])
@limited("votes", "VOTE_RATE_LIMIT")
@login_required
def vote(nomination_id: int):
    found = honours.visible_nomination(current_user, nomination_id)
    _post(ButtonForm(), lambda: honours.cast_vote(current_user, found),
          _("Your vote for %(name)s is counted.", name=found.nominee.name))
    return redirect(url_for("honours.show", campaign_id=found.campaign_id) + f"#n{found.id}")


# --- the staff's review ---------------------------------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/review")
@login_required
def review(campaign_id: int):
    campaign = honours.managed(current_user, campaign_id)
    tallies = honours.tallies(campaign)
    flags = honours.flags(campaign)
    first, last = honours.figure_months(campaign)
    return render_template(
        "honours/review.html", campaign=campaign, timeline=_timeline(campaign), tallies=tallies,
        figures=honours.figures(campaign, [t.nomination for t in tallies]), months=(first, last),
        flags=[(f, honours.flag_votes(f)) for f in flags], objections=honours.objections(campaign),
        step=honours.next_step(campaign), tier_name=lambda tier: honours.tier_name(campaign, tier),
        note_form=NoteForm(), button=ButtonForm())


def _judge(row, way: str, judge, anchor: str, said: tuple[str, str]):
    """A staff judgement of a nomination, a flag or an objection in the review: the button pressed says which `way`
    (its field is "1" for yes), the note why; then back to the row's place on the review page."""
    form = NoteForm()
    yes = request.form.get(way) == "1"
    _post(form, lambda: judge(current_user, row, note=form.note.data, **{way: yes}), said[0] if yes else said[1])
    return redirect(url_for("honours.review", campaign_id=row.campaign_id) + f"#{anchor}{row.id}")


@bp.route("/nominations/<int:nomination_id>/decide", methods=["POST"])
@login_required
def decide(nomination_id: int):
    found = honours.visible_nomination(current_user, nomination_id)
    name = found.nominee.name
    return _judge(found, "shortlist", honours.decide, "n",
                  (_("Shortlisted: %(name)s.", name=name), _("Not shortlisted: %(name)s.", name=name)))


@bp.route("/flags/<int:flag_id>/decide", methods=["POST"])
@login_required
def decide_flag(flag_id: int):
    return _judge(honours.managed_row(current_user, VoteFlag, flag_id), "discount", honours.decide_flag, "flag",
                  (_("The flagged votes no longer count."), _("The flagged votes are kept.")))


@bp.route("/objections/<int:objection_id>/handle", methods=["POST"])
@login_required
def handle(objection_id: int):
    return _judge(honours.managed_row(current_user, Objection, objection_id), "upheld", honours.handle_objection, "o",
                  (_("The objection is upheld: the nominee is off the list."), _("The objection is dismissed.")))


# --- public: the notice, the roll, the certificate check -------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/notice", methods=["GET"])
def notice(campaign_id: int):
    """The public notice (公示): anyone may read it; residents in scope object here under their real name."""
    campaign = honours.notice_campaign(campaign_id)
    listed = honours.shortlist(campaign)
    form = ObjectionForm()
    form.nomination_id.choices = [SelectChoice(str(n.id), n.nominee.masked_name) for n in listed]
    last_day = campaign.notice_until - timedelta(seconds=1) if campaign.notice_until else None
    return render_template("honours/notice.html", campaign=campaign, listed=listed, form=form, last_day=last_day,
                           open_now=honours.notice_open(campaign),
                           may_object=honours.lives_in(current_user, campaign.area)
                           if current_user.is_authenticated else False,
                           tier_name=lambda tier: honours.tier_name(campaign, tier), winners=honours.honours(campaign))


@bp.route("/campaigns/<int:campaign_id>/objections", methods=["POST"])
@login_required
def object_(campaign_id: int):
    campaign = honours.visible(current_user, campaign_id)
    form = ObjectionForm()
    target = next((n for n in honours.shortlist(campaign) if str(n.id) == form.nomination_id.data), None)
    if target is None:
        raise NotFound("not_found", _("Not found."))
    _post(form, lambda: honours.lodge_objection(current_user, campaign, target, reason=form.reason.data,
                                                real_name=form.real_name.data or ""),
          _("Your objection is recorded. Staff will look into it and record how it was handled."))
    return redirect(url_for("honours.notice", campaign_id=campaign.id) + "#object")


@bp.route("/areas/<int:area_id>/honours")
def roll(area_id: int):
    """The honour roll (光荣榜) of a community, street or district: public, masked names."""
    area = honours.roll_area(area_id)
    groups: dict[int, list] = {}
    for honour in honours.honour_roll(area):  # newest first; each campaign's honours together
        groups.setdefault(honour.campaign_id, []).append(honour)
    return render_template("honours/roll.html", area=area, groups=list(groups.values()))


@bp.route("/honours/<number>")
@verify_limited()
def verify(number: str):
    """The public check of an honour certificate: anyone holding the number, signed in or not."""
    return _honour_check(number)


@bp.route("/honours/check")
@verify_limited()
def check():
    """The public check with a box to type the number in: found, or 没有这个编号 with the box kept filled."""
    return _honour_check()


def _honour_check(number: str | None = None):
    form, honour, status = look_up(honours.by_number, number)
    signed_in = current_user.is_authenticated and honour is not None
    return render_template("honours/verify.html", form=form, missing=status == 404, honour=honour,
                           facts=honours.verification(honour) if honour is not None else None,
                           local_date=certificates.local_date, mine=signed_in and honour.person_id == current_user.id,
                           manager=signed_in and can(current_user, "campaign.manage", honour.campaign)), status


@bp.route("/honours/<number>/certificate")
@login_required
def certificate(number: str):
    honour = honours.readable_honour(current_user, number)
    url = _verify_url(honour.number)
    return render_template("honours/certificate.html", honour=honour, verify_url=url,
                           statement=honours.certificate_statement(honour),
                           qr=Markup(qr.svg(url)),  # noqa: S704 - SVG made by qrcode from our own URL
                           local_date=certificates.local_date)


@bp.route("/honours/<number>/pdf")
@login_required
def pdf(number: str):
    honour = honours.readable_honour(current_user, number)
    data = honours.honour_pdf(honour, _verify_url(honour.number))
    return pdf_response(data, f"honour-{honour.number}.pdf")
