"""The points market's pages: the shop on a phone, a reward, redeeming, my pickup codes; for staff the catalogue,
stock, the pickup counter (camera or typed code), redemptions, the public monthly list, the liability report and
the registers.

Every rule lives in domain/market/ and domain/access.py; these views load what they name through
`access.get_visible` (404 outside the caller's scope), make one domain call and render, redirect or answer JSON. The
counter's JSON answers (`pickup.json`) serve the scanner page's script with the session cookie; its POSTs carry the
CSRF token in X-CSRFToken.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from blueprints import photos as photo_files
from blueprints.bounds import Form, Visible
from blueprints.errors import error_response, json_errors
from blueprints.ext import photos_limited
from blueprints.forms import attempt, no_store, page_arg, qr_response, xlsx_response
from domain import access, categories, market, photos
from domain.errors import NotFound
from domain.labels import (
    LIMIT_PERIOD_NAMES,
    REDEMPTION_STATUS_NAMES,
    limit_period_name,
    movement_kind_name,
    redemption_status_name,
)
from domain.ledger import SHANGHAI
from domain.paging import paginate
from models import Area, LimitPeriod, Redemption, RedemptionStatus, Reward, utcnow
from models.transaction import reads_apart

bp = Blueprint("market", __name__)
PER_PAGE = 50


@bp.app_template_filter()
def pickup_code(code: str) -> str:
    return market.format_code(code)


@bp.app_template_filter()
def yuan(fen: int) -> str:
    return market.yuan(fen)


for _label in (redemption_status_name, limit_period_name, movement_kind_name):
    bp.add_app_template_filter(_label)


# --- forms ------------------------------------------------------------------------------------------------------


class RewardPageForm(Form):
    #: Named like the domain's error fields, so its messages land on the inputs.
    name = StringField(_l("Name"), validators=[DataRequired(), Visible(), Length(max=100)])
    category = SelectField(_l("Category"), validators=[DataRequired()])
    price = IntegerField(_l("Price in points"), validators=[DataRequired(), NumberRange(1, market.MAX_PRICE)])
    stock = IntegerField(_l("Stock (empty: unlimited, e.g. a service)"),
                         validators=[Optional(), NumberRange(0, market.MAX_STOCK)])
    per_person_limit = IntegerField(_l("Per person at most (empty: no limit)"),
                                    validators=[Optional(), NumberRange(1, 1000)])
    limit_period = SelectField(_l("In"), default="month", choices=[
        SelectChoice(p.value, LIMIT_PERIOD_NAMES[p.value]) for p in LimitPeriod])
    available_from = DateField(_l("From (empty: now)"), validators=[Optional()])
    available_until = DateField(_l("Until (empty: no end)"), validators=[Optional()])
    sponsor = StringField(_l("Sponsor (a local merchant who donates it; empty: bought by the community)"),
                          validators=[Optional(), Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    photo = FileField(_l("Photo"), validators=[FileAllowed(["jpg", "jpeg", "png", "webp", "gif"])])
    remove_photo = BooleanField(_l("Remove the photo"))

    def reward_form(self) -> market.RewardForm:
        return market.RewardForm(
            name=self.name.data, price=self.price.data, category=self.category.data,
            description=self.description.data, stock=self.stock.data, per_person_limit=self.per_person_limit.data,
            limit_period=self.limit_period.data if self.per_person_limit.data else None,
            available_from=self.available_from.data, available_until=self.available_until.data,
            sponsor=self.sponsor.data)

    def fill_from(self, reward: Reward) -> None:
        for name in ("name", "category", "price", "stock", "per_person_limit", "available_from", "available_until",
                     "sponsor", "description"):
            getattr(self, name).data = getattr(reward, name)
        self.limit_period.data = reward.limit_period.value if reward.limit_period else "month"

    def upload(self):
        return self.photo.data.stream if self.photo.data else None


class StockForm(Form):
    change = IntegerField(_l("How many more (a minus for fewer)"),
                          validators=[DataRequired(), NumberRange(-market.MAX_STOCK, market.MAX_STOCK)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class RedeemForm(Form):
    quantity = IntegerField(_l("How many"), default=1, validators=[
        DataRequired(), NumberRange(1, market.MAX_QUANTITY, message=_l("You can redeem 1 to %(n)s at a time.",
                                                                        n=market.MAX_QUANTITY))])
    #: A fresh key per form shown: pressing the button twice on a slow phone redeems once.
    key = HiddenField(validators=[Length(max=64)])


class CancelForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=500)])


class PickupForm(Form):
    pickup_code = StringField(_l("Pickup code"), validators=[DataRequired(), Length(max=32)])


class PickupPointForm(Form):
    address = StringField(_l("Address"), validators=[Optional(), Length(max=market.PICKUP_LIMITS["address"])])
    hours = StringField(_l("Opening hours"), validators=[Optional(), Length(max=market.PICKUP_LIMITS["hours"])])
    phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=market.PICKUP_LIMITS["phone"])])


class ButtonForm(Form):
    """A button that posts: only the CSRF token."""


class RedemptionFilter(Form):
    class Meta:
        csrf = False

    q = StringField(_l("Person or pickup code"), validators=[Optional(), Length(max=50)])
    status = SelectField(_l("Status"), validators=[Optional()], choices=[SelectChoice("", _l("All"))] + [
        SelectChoice(s.value, REDEMPTION_STATUS_NAMES[s.value]) for s in RedemptionStatus])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


# --- helpers ----------------------------------------------------------------------------------------------------


def _now() -> datetime:
    return utcnow()


def _categories(community: Area) -> list[SelectChoice]:
    return [SelectChoice(c.code, c.name) for c in categories.categories(community, "reward")]




def _flash_errors(form: Form) -> None:
    """A small form posted from a bigger page: say what was wrong there, by the field's label."""
    for name, errors in form.errors.items():
        flash(f"{getattr(form, name).label.text}: {errors[0]}", "error")


def _month_arg(now: datetime) -> tuple[int, int]:
    """?month=2026-11, or this month (Beijing)."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", request.args.get("month", ""))
    if found and 2000 <= int(found[1]) <= 2100 and 1 <= int(found[2]) <= 12:
        return int(found[1]), int(found[2])
    local = now.astimezone(SHANGHAI)
    return local.year, local.month


def _year_arg(now: datetime) -> int:
    year = request.args.get("year", type=int)
    return year if year is not None and 2000 <= year <= 2100 else now.astimezone(SHANGHAI).year


def _answer(redemption: Redemption) -> dict:
    """A pickup as the counter shows it: a headline, and who took what."""
    return {"ok": True, "status": redemption.status.value, "headline": _("Hand it over"),
            "detail": f"{redemption.person.name} · {redemption.reward.name} ×{redemption.quantity}",
            "name": redemption.person.name, "reward": redemption.reward.name, "quantity": redemption.quantity,
            "code": market.format_code(redemption.pickup_code), "id": redemption.id}


# --- the shop ------------------------------------------------------------------------------------------------------


@bp.route("/market")
@login_required
def index():
    mine = market.markets_of(current_user)
    if len(mine) == 1:
        return redirect(url_for("market.shop", community_id=mine[0].id))
    return render_template("market/index.html", communities=mine)


@bp.route("/market/<int:community_id>")
@login_required
def shop(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.view")
    now = _now()
    names = market.category_names(community)
    chosen = request.args.get("category", "")
    available = [r for r in market.catalogue(community) if market.is_available(r, now)]
    rewards = [r for r in available if not chosen or r.category == chosen]
    balance = market.balance(current_user, community)
    return no_store(Response(render_template(
        "market/shop.html", community=community, offers=market.offers(current_user, rewards, now=now,
                                                                      balance_now=balance),
        balance=balance, names=names, chosen=chosen, manage=access.can(current_user, "market.manage", community),
        used=sorted({r.category for r in available}),
        pending=market.pending_count(community, current_user))))


@bp.route("/market/rewards/<int:reward_id>")
@login_required
def reward(reward_id: int):
    """A reward, with the limits in words and the quantity to confirm. Never kept by the browser: after Back the
    balance and the stock are read again."""
    item = access.get_visible(Reward, reward_id, current_user, "reward.view")
    manage = access.can(current_user, "reward.manage", item)
    balance = market.balance(current_user, item.community)
    offer = market.offers(current_user, [item], balance_now=balance)[0]
    return no_store(Response(render_template(
        "market/reward.html", reward=item, offer=offer, balance=balance, manage=manage,
        most=market.most_quantity(offer, balance), limit_words=market.limit_words(item, offer.used),
        max_quantity=market.MAX_QUANTITY, pickup=market.pickup_point(item.community),
        names=market.category_names(item.community), stock_form=StockForm(), button=ButtonForm(),
        movements=market.movements(item) if manage else [], held=market.held_quantity(item) if manage else {})))


def _quantity_arg() -> int:
    """?quantity= as asked, kept within 1..999 (the preview says in words what is too many)."""
    return min(max(1, request.args.get("quantity", 1, type=int) or 1), 999)


@bp.route("/market/rewards/<int:reward_id>/confirm")
@login_required
def confirm(reward_id: int):
    """The step before the tap: the reward, how many, the total, the balance after, and why not if it cannot be."""
    item = access.get_visible(Reward, reward_id, current_user, "reward.view")
    seen = market.preview(current_user, item, _quantity_arg(), now=_now())
    form = RedeemForm(quantity=seen.quantity)
    form.key.data = str(uuid.uuid4())
    return no_store(Response(render_template("market/confirm.html", reward=item, preview=seen, form=form,
                                             pickup=market.pickup_point(item.community))))


@bp.route("/market/rewards/<int:reward_id>/photo")
@login_required
def reward_photo(reward_id: int):
    item = access.get_visible(Reward, reward_id, current_user, "reward.view")
    if not item.photo:
        raise NotFound("not_found", _("There is no such photo."))
    return photo_files.send(item.photo, cacheable=True)


@bp.route("/market/rewards/<int:reward_id>/redeem", methods=["POST"])
@login_required
def redeem(reward_id: int):
    with reads_apart():  # as the API's: on SQLite the write lock is then held for the writes alone
        item = access.get_visible(Reward, reward_id, current_user, "reward.view")
    form = RedeemForm()
    if form.validate_on_submit():
        key = form.key.data or str(uuid.uuid4())
        wanted = market.Request(f"page:{key}"[:market.KEY_MAX],
                                market.fingerprint(reward_id=item.id, quantity=form.quantity.data))
        done = attempt(form, lambda: market.redeem(current_user, item, form.quantity.data, request=wanted),
                       _("Redeemed. Show the pickup code at the community service counter."))
        if done is not None:
            return redirect(url_for("market.redemption", redemption_id=done.redemption.id))
    else:
        _flash_errors(form)
    return redirect(url_for("market.reward", reward_id=item.id))


@bp.route("/market/mine")
@login_required
def mine():
    return render_template("market/mine.html", redemptions=market.redemptions_of(current_user), now=_now())


@bp.route("/market/redemptions/<int:redemption_id>")
@login_required
def redemption(redemption_id: int):
    item = access.get_visible(Redemption, redemption_id, current_user, "redemption.view")
    return no_store(Response(render_template(
        "market/redemption.html", redemption=item, own=item.person_id == current_user.id,
        pickup=market.pickup_point(item.reward.community),
        manage=access.can(current_user, "reward.manage", item.reward), form=CancelForm(), now=_now())))


@bp.route("/market/redemptions/<int:redemption_id>/status.json")
@login_required
def redemption_status(redemption_id: int):
    item = access.get_visible(Redemption, redemption_id, current_user, "redemption.view")
    return no_store(jsonify({"status": item.status.value, "label": redemption_status_name(item.status)}))


@bp.route("/market/redemptions/<int:redemption_id>/qr.svg")
@login_required
def redemption_qr(redemption_id: int):
    """The pickup QR code: the pickup URL, so a staff phone's own camera app lands on the counter's page too."""
    item = access.get_visible(Redemption, redemption_id, current_user, "redemption.view")
    if item.status != RedemptionStatus.reserved:
        raise NotFound("not_found", _("Not found."))
    return qr_response(url_for("market.pickup", code=item.pickup_code, _external=True), max_age=3600)


@bp.route("/market/redemptions/<int:redemption_id>/cancel", methods=["POST"])
@login_required
def cancel(redemption_id: int):
    item = access.get_visible(Redemption, redemption_id, current_user, "redemption.view")
    form = CancelForm()
    if form.validate_on_submit():
        attempt(form, lambda: market.cancel(current_user, item, reason=form.reason.data),
                _("Cancelled. The points are back in your account.") if item.person_id == current_user.id
                else _("Cancelled. The points are refunded."))
    return redirect(request.form.get("next") if request.form.get("next", "").startswith("/market/")
                    else url_for("market.redemption", redemption_id=item.id))


# --- staff: the catalogue and the stock --------------------------------------------------------------------------


@bp.route("/market/<int:community_id>/manage")
@login_required
def manage(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    rewards = market.catalogue(community, include_inactive=True)
    point = market.pickup_point(community)
    return render_template("market/manage.html", community=community, rewards=rewards,
                           names=market.category_names(community), counts=market.status_counts(community),
                           now=_now(), pickup_form=PickupPointForm(data=vars(point) if point else None))


@bp.route("/market/<int:community_id>/pickup-point", methods=["POST"])
@login_required
def pickup_point(community_id: int):
    """The community's pickup point (address, opening hours, phone), shown on every reward and ticket."""
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    form = PickupPointForm()
    if form.validate_on_submit():
        attempt(form, lambda: market.set_pickup_point(current_user, community, address=form.address.data,
                                                      hours=form.hours.data, phone=form.phone.data),
                _("Saved."))
    else:
        _flash_errors(form)
    return redirect(url_for("market.manage", community_id=community.id) + "#pickup-point")


@bp.route("/market/<int:community_id>/rewards/new", methods=["GET", "POST"])
@photos_limited()
@login_required
def new_reward(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    form = RewardPageForm()
    form.category.choices = _categories(community)
    if form.validate_on_submit():
        created = attempt(form, lambda: market.create_reward(current_user, community, form.reward_form(),
                                                             photo=form.upload()),
                          _("The reward is in the market."))
        if created is not None:
            return redirect(url_for("market.reward", reward_id=created.id))
    return render_template("market/form.html", form=form, community=community, reward=None)


@bp.route("/market/rewards/<int:reward_id>/edit", methods=["GET", "POST"])
@photos_limited()
@login_required
def edit_reward(reward_id: int):
    item = access.get_visible(Reward, reward_id, current_user, "reward.manage")
    form = RewardPageForm()
    form.category.choices = _categories(item.community)
    if request.method == "GET":
        form.fill_from(item)
    if form.validate_on_submit():
        old_photo = item.photo
        done = attempt(form, lambda: market.update_reward(current_user, item, form.reward_form(), photo=form.upload(),
                                                          remove_photo=form.remove_photo.data), _("Saved."))
        if done is not None:
            if old_photo and done.photo != old_photo:
                photos.delete(old_photo)  # only now: the change is committed
            return redirect(url_for("market.reward", reward_id=item.id))
    return render_template("market/form.html", form=form, community=item.community, reward=item)


@bp.route("/market/rewards/<int:reward_id>/stock", methods=["POST"])
@login_required
def stock(reward_id: int):
    item = access.get_visible(Reward, reward_id, current_user, "reward.manage")
    form = StockForm()
    if form.validate_on_submit():
        attempt(form, lambda: market.move_stock(current_user, item, form.change.data, reason=form.reason.data),
                _("Stock updated."))
    else:
        _flash_errors(form)
    return redirect(url_for("market.reward", reward_id=item.id) + "#stock")


@bp.route("/market/rewards/<int:reward_id>/withdraw", methods=["POST"], defaults={"action": "withdraw"})
@bp.route("/market/rewards/<int:reward_id>/restore", methods=["POST"], defaults={"action": "restore"})
@login_required
def set_active(reward_id: int, action: str):
    item = access.get_visible(Reward, reward_id, current_user, "reward.manage")
    form = ButtonForm()
    if form.validate_on_submit():
        attempt(form, lambda: market.set_active(current_user, item, action == "restore"),
                _("Back in the market.") if action == "restore" else _("Withdrawn from the market."))
    return redirect(url_for("market.reward", reward_id=item.id))


# --- staff: redemptions, the counter ---------------------------------------------------------------------------------


def _filter_form() -> RedemptionFilter:
    form = RedemptionFilter(request.args)
    form.validate()
    return form


def _redemptions_query(community: Area, form: RedemptionFilter):
    return market.community_redemptions(
        community, status=RedemptionStatus(form.status.data) if form.status.data else None,
        text=(form.q.data or "").strip() or None, since=form.since.data,
        until=form.until.data)


@bp.route("/market/<int:community_id>/redemptions")
@login_required
def redemptions(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    form = _filter_form()
    query = _redemptions_query(community, form)
    found = paginate(query, page_arg(), PER_PAGE)
    return render_template("market/redemptions.html", community=community, form=form, rows=found.items,
                           total=found.total, page=found.page, per_page=PER_PAGE, cancel_form=CancelForm(), now=_now())


@bp.route("/market/<int:community_id>/redemptions.xlsx")
@login_required
def redemptions_register(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    now = _now()
    return xlsx_response(market.redemptions_xlsx(_redemptions_query(community, _filter_form()), now),
                 f"redemptions-{community.id}-{now:%Y%m%d}.xlsx")


@bp.route("/market/<int:community_id>/stock.xlsx")
@login_required
def stock_register(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    now = _now()
    return xlsx_response(market.movements_xlsx(community, now), f"stock-{community.id}-{now:%Y%m%d}.xlsx")


@bp.route("/market/<int:community_id>/scan")
@login_required
def scanner(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    return render_template("market/scan.html", community=community, form=PickupForm(),
                           pending=market.pending_count(community))


@bp.route("/market/<int:community_id>/pickup.json", methods=["GET", "POST"])
@login_required
@json_errors
def pickup_json(community_id: int):
    """POST: a scanned or typed pickup code, handed over. GET: a fresh CSRF token for a page open all day."""
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    if request.method == "GET":
        return no_store(jsonify({"csrf_token": generate_csrf()}))
    body = request.get_json(silent=True)
    code = body.get("pickup_code") if isinstance(body, dict) else None
    if not isinstance(code, str):
        return error_response(400, "validation_error", _("The request is not valid."),
                              {"pickup_code": [_("Required.")]})
    done = market.fulfil_by_code(current_user, community, code)
    return jsonify(_answer(done))


@bp.route("/market/<int:community_id>/pickup", methods=["POST"])
@login_required
def pickup_typed(community_id: int):
    """The counter without a camera (or without JavaScript): the code typed in, handed over."""
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    form = PickupForm()
    if form.validate_on_submit():
        done = attempt(form, lambda: market.fulfil_by_code(current_user, community, form.pickup_code.data),
                       _("Picked up. Hand the reward over."))
        if done is not None:
            return redirect(url_for("market.redemption", redemption_id=done.id))
    return redirect(request.form.get("next") if request.form.get("next", "").startswith("/market/")
                    else url_for("market.scanner", community_id=community.id))


@bp.route("/market/pickup/<code>")
@login_required
def pickup(code: str):
    """Where the pickup QR code leads: staff of the community see whom to hand what, with a button; the owner sees
    their own redemption; nobody else learns the code exists."""
    found = market.by_code(code)
    if found is None:
        raise NotFound("not_found", _("Not found."))
    if access.can(current_user, "reward.manage", found.reward):
        return render_template("market/pickup.html", redemption=found, form=PickupForm(pickup_code=found.pickup_code),
                               now=_now())
    if found.person_id == current_user.id:
        return redirect(url_for("market.redemption", redemption_id=found.id))
    raise NotFound("not_found", _("Not found."))


# --- staff and residents: the public list; staff: the liability report ---------------------------------------------


@bp.route("/market/<int:community_id>/notice")
@login_required
def notice(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.view")
    now = _now()
    year, month = _month_arg(now)
    start, _end = market.month_bounds(year, month)
    previous = (start - timedelta(days=1)).astimezone(SHANGHAI)
    following = (start + timedelta(days=32)).astimezone(SHANGHAI)
    this_month = now.astimezone(SHANGHAI)
    return render_template(
        "market/notice.html", community=community, lines=market.monthly_notice(community, year, month), year=year,
        month=month, previous=f"{previous:%Y-%m}",
        following=f"{following:%Y-%m}" if (following.year, following.month) <= (this_month.year, this_month.month)
        else None, now=now)


@bp.route("/market/<int:community_id>/report")
@login_required
def report(community_id: int):
    community = access.get_visible(Area, community_id, current_user, "market.manage")
    now = _now()
    year = _year_arg(now)
    return render_template("market/report.html", community=community, report=market.liability(community, year, now=now),
                           year=year, this_year=now.astimezone(SHANGHAI).year, now=now)
