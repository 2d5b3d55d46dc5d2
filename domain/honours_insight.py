"""Honours campaigns in the staff dashboard, the roll-up, the registers and a person's own data export.

A campaign belongs to the area it is held over: a community's dashboard counts the campaigns of the community and
of the estates and grids in it; a street's adds those held over the whole street. Nominations, votes and honours
count in the month they were made, cast or awarded; votes staff discounted do not count. Registered from the bottom
of domain/honours.py.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from domain import dashboards, export, registers, reports
from domain.dashboards import Chart, Figure, Frame, Section, Series
from domain.labels import campaign_kind_name, nomination_status_name, objection_status_name, phase_name
from domain.leaderboards import month_text
from domain.ledger import month_of
from domain.org import community_of, head_title
from domain.sql_insight import in_frame, monthly
from models import Area, Campaign, CampaignKind, Honour, Nomination, Objection, User, Vote, db, mask_phone
from models.area import path_under

#: Campaigns on the dashboard's campaigns chart: the latest.
TOP_CAMPAIGNS = 10


def _joined(model, *columns):
    """(select, place): `columns` over the rows of `model` (a campaign, or a row of one), joined to the campaign
    and to the area it is held over (`place`)."""
    place = aliased(Area, name="place")
    query = select(*columns).select_from(model)
    if model is not Campaign:
        query = query.join(Campaign, model.campaign_id == Campaign.id)
    return query.join(place, Campaign.area_id == place.id), place


def _rows(model, area: Area, *columns):
    """A select of `columns` over the rows of `model` of the campaigns held in `area`."""
    query, place = _joined(model, *columns)
    return query.where(path_under(place.path, area.path))


def _counted_vote():
    return Vote.discounted.is_(False)


def _running_in(frame: Frame) -> list:
    """Campaigns that ran during the frame's months: opened before its end, not announced before its start."""
    return [Campaign.nominate_from < frame.until,
            or_(Campaign.announced_at.is_(None), Campaign.announced_at >= frame.since)]


def _per_campaign(model, ids: list[int], *where) -> dict[int, int]:
    return dict(db.session.execute(select(model.campaign_id, func.count()).where(model.campaign_id.in_(ids), *where)
                                   .group_by(model.campaign_id)).all())


def _campaigns_chart(frame: Frame) -> Chart:
    campaigns = list(reversed(db.session.execute(
        _rows(Campaign, frame.area, Campaign.id, Campaign.title, Campaign.area_id, Campaign.kind,
              Campaign.nominate_from)
        .where(*_running_in(frame)).order_by(Campaign.nominate_from.desc(), Campaign.id.desc())
        .limit(TOP_CAMPAIGNS)).all()))
    ids = [c[0] for c in campaigns]
    places = dict(db.session.execute(select(Area.id, Area.name).where(Area.id.in_({c[2] for c in campaigns}))).all())
    nominations, winners = _per_campaign(Nomination, ids), _per_campaign(Honour, ids)

    def label(title, area_id, kind, opened):
        # Titles share their start ("2026年度银融社区…") and the chart cuts long names: the kind and month tell apart.
        name = title if kind == CampaignKind.custom else f"{campaign_kind_name(kind)} {month_text(month_of(opened))}"
        return name if area_id == frame.area.id else f"{name} · {places.get(area_id, '')}"

    return Chart("campaigns", _("Campaigns: nominations and winners"), _("Campaign"),
                 [label(*c[1:]) for c in campaigns], [
                     Series(_("Nominations"), [nominations.get(i, 0) for i in ids]),
                     Series(_("Winners"), [winners.get(i, 0) for i in ids])],
                 horizontal=True, note=_("Campaigns that ran in the months shown (the latest %(n)s at most), by kind "
                                         "and the month nominations opened; all their nominations and winners.",
                                         n=TOP_CAMPAIGNS))


def _charts(frame: Frame) -> list[Chart]:
    def count(model, stamp, *where):
        months = monthly(frame, stamp, _rows(model, frame.area, model.id).where(*where), lambda c: func.count())
        return [int(months[m][0]) for m in frame.months]

    return [
        Chart("honours_by_month", _("Nominations, votes and honours by month"), _("Month"), frame.labels, [
            Series(_("Nominations"), count(Nomination, Nomination.created_at)),
            Series(_("Honours awarded"), count(Honour, Honour.awarded_at)),
            Series(_("Votes"), count(Vote, Vote.created_at, _counted_vote()), kind="line", axis=1)],
            axes=(_("People"), _("Votes"))),
        _campaigns_chart(frame),
    ]


def _rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    """Per community, the campaigns held in it; the total also counts those held over the whole street."""
    ids = [c.id for c in communities]
    community = aliased(Area, name="community")

    def figure(key, label, model, *where, charted=False):
        query, place = _joined(model, community.id, func.count())
        values = dict(db.session.execute(
            query.join(community, and_(community.id.in_(ids), path_under(place.path, community.path)))
            .where(*where).group_by(community.id)).all())
        total = db.session.scalar(_rows(model, frame.area, func.count()).where(*where))
        return Figure(key, label, {i: values.get(i, 0) for i in ids}, total or 0, charted)

    return [figure("campaigns", _("Campaigns"), Campaign, *_running_in(frame)),
            figure("nominations", _("Nominations"), Nomination, *in_frame(frame, Nomination.created_at),
                   charted=True),
            figure("votes", _("Votes"), Vote, _counted_vote(), *in_frame(frame, Vote.created_at)),
            figure("winners", _("Honours awarded"), Honour, *in_frame(frame, Honour.awarded_at), charted=True)]


# --- the honours register (评选表彰台账): campaigns, nominations, winners ---------------------------------------

def _register_headers() -> list[str]:
    return [_("Name of the campaign"), _("Kind"), _("Held in"), _("Phase"), _("Nominations from"), _("Voting until"),
            _("Nominee"), _("Phone"), _("Tier"), _("Area"), _("Status"), _("Votes"), _("Honour title"),
            _("Certificate number"), _("Awarded at")]


def _register_rows(area: Area):
    """A row per nomination, a campaign without any one row with the nominee columns empty; oldest campaign first."""
    held, headed = aliased(Area, name="held"), aliased(Area, name="headed")
    off = (select(Vote.nomination_id, func.count().label("n")).where(Vote.discounted.is_(True))
           .group_by(Vote.nomination_id).subquery())
    query = (select(Campaign.id, Campaign.title, Campaign.kind, held.name, held.id, Campaign.phase,
                    Campaign.nominate_from, Campaign.vote_until, User.name, User.phone, Nomination.tier, headed.name,
                    Nomination.status, Nomination.votes, off.c.n, Honour.title, Honour.number, Honour.awarded_at)
             .join(held, Campaign.area_id == held.id)
             .outerjoin(Nomination, Nomination.campaign_id == Campaign.id)
             .outerjoin(User, Nomination.nominee_id == User.id)
             .outerjoin(headed, Nomination.head_area_id == headed.id)
             .outerjoin(off, off.c.nomination_id == Nomination.id)
             .outerjoin(Honour, Honour.nomination_id == Nomination.id)
             .where(path_under(held.path, area.path))
             .order_by(Campaign.nominate_from, Campaign.id, Nomination.tier, Nomination.votes.desc(), Nomination.id))
    titles: dict[tuple[int, int], str] = {}
    communities: dict[int, Area | None] = {}
    for (_id, title, kind, held_name, held_id, phase, nominate_from, vote_until, nominee, phone, tier, heads,
         status, votes, discounted, honour, number, awarded_at) in db.session.execute(
            query.execution_options(yield_per=registers.BATCH)):
        if tier and (held_id, tier) not in titles:
            if held_id not in communities:
                communities[held_id] = community_of(db.session.get(Area, held_id))
            titles[held_id, tier] = head_title(communities[held_id], tier)
        yield [title, campaign_kind_name(kind), held_name, phase_name(phase), reports.local(nominate_from)[:10],
               reports.local(vote_until)[:10], nominee or "", mask_phone(phone) if phone else "",
               titles.get((held_id, tier), "") if tier else "", heads or "",
               nomination_status_name(status) if status else "",
               (votes or 0) - (discounted or 0) if status else "", honour or "", number or "",
               reports.local(awarded_at)]


# --- the personal export: my nominations, votes, objections and honours ---------------------------------------------

def _my_nominations(person: User):
    """Nominations of me and by me. Of one by me: whom I nominated (mine to know), not how they fared; of one of
    me: how it went, not who nominated me."""
    for n in db.session.scalars(select(Nomination).where(
            or_(Nomination.nominee_id == person.id, Nomination.nominator_id == person.id))
            .order_by(Nomination.created_at, Nomination.id)):
        of_me = n.nominee_id == person.id
        yield {"campaign": n.campaign.title, "of_me": of_me, "by_me": n.nominator_id == person.id,
               "nominee": n.nominee.name, "reason": n.reason, "created_at": n.created_at,
               "status": nomination_status_name(n.status) if of_me else None,
               "answered_at": n.answered_at if of_me else None, "votes": n.votes if of_me else None,
               "decision_note": n.decision_note if of_me else None}


def _my_votes(person: User):
    """My votes: for whom, when, and whether they counted. Never anybody else's vote."""
    for vote, nomination in db.session.execute(
            select(Vote, Nomination).join(Nomination, Vote.nomination_id == Nomination.id)
            .where(Vote.voter_id == person.id).order_by(Vote.created_at, Vote.id)):
        yield {"campaign": nomination.campaign.title, "nominee": nomination.nominee.name, "at": vote.created_at,
               "counted": not vote.discounted}


def _my_objections(person: User):
    for o in db.session.scalars(select(Objection).where(Objection.objector_id == person.id)
                                .order_by(Objection.created_at, Objection.id)):
        yield {"campaign": o.nomination.campaign.title, "nominee": o.nomination.nominee.name,
               "signed_as": o.real_name, "reason": o.reason, "at": o.created_at,
               "status": objection_status_name(o.status), "handled_at": o.handled_at, "handling_note": o.handling_note}


def _my_honours(person: User):
    for h in db.session.scalars(select(Honour).where(Honour.person_id == person.id)
                                .order_by(Honour.awarded_at, Honour.id)):
        yield {"title": h.title, "campaign": h.campaign.title, "community": h.community.name, "number": h.number,
               "points": h.points, "awarded_at": h.awarded_at}



def register() -> None:
    """This capability's dashboard section, registers and personal-export section (called by create_app)."""
    dashboards.register_section(Section("honours", _l("Honours"), _charts, _rollup, order=70))
    registers.add_register(registers.Register(
        "honours", _l("Honours register"),
        _l("Every campaign with its nominees, their votes and the winners with their certificate numbers."),
        registers.COMMUNITY_AND_ABOVE, headers=_register_headers, rows=_register_rows, order=65))
    export.add_section(export.ExportSection("nominations", _l("Nominations"), [
        ("campaign", _l("Campaign")), ("of_me", _l("Of me")), ("by_me", _l("By me")), ("nominee", _l("Nominee")),
        ("reason", _l("Reason")), ("created_at", _l("Nominated at")), ("status", _l("Status")),
        ("answered_at", _l("Answered at")), ("votes", _l("Votes")), ("decision_note", _l("Staff's note"))],
        _my_nominations, order=150))
    export.add_section(export.ExportSection("votes", _l("My votes"), [
        ("campaign", _l("Campaign")), ("nominee", _l("Voted for")), ("at", _l("Time")), ("counted", _l("Counted"))],
        _my_votes, order=151))
    export.add_section(export.ExportSection("objections", _l("My objections"), [
        ("campaign", _l("Campaign")), ("nominee", _l("Nominee")), ("signed_as", _l("Signed as")),
        ("reason", _l("Reason")), ("at", _l("Time")), ("status", _l("Status")), ("handled_at", _l("Handled at")),
        ("handling_note", _l("How it was handled"))], _my_objections, order=152))
    export.add_section(export.ExportSection("honours", _l("My honours"), [
        ("title", _l("Honour")), ("campaign", _l("Campaign")), ("community", _l("Community")),
        ("number", _l("Certificate number")), ("points", _l("Points")), ("awarded_at", _l("Awarded at"))],
        _my_honours, order=153))
