"""Pages of webhooks out, for staff of an area: its endpoints, adding one (the secret shown once), disabling one,
an endpoint's delivery log with each body, and sending a delivery again."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from blueprints.bounds import Form
from blueprints.forms import attempt, page_arg
from blueprints.once import submission_used
from domain import webhooks
from domain.access import get_visible
from domain.paging import paginate
from domain.webhooks.outbox import SECRET_MAX, URL_MAX
from models import Area, DeliveryStatus

bp = Blueprint("webhooks", __name__)

PER_PAGE = 30

#: What the pages call each event kind.
EVENT_NAMES = {
    "need.posted": _l("Need posted"),
    "need.claimed": _l("Need claimed"),
    "need.resolved": _l("Need resolved (approved)"),
    "redemption.created": _l("Redemption made"),
    "redemption.fulfilled": _l("Redemption picked up"),
    "redemption.cancelled": _l("Redemption cancelled or expired"),
    "service.approved": _l("Service approved"),
    "honours.announced": _l("Honours announced"),
}
STATUS_NAMES = {"pending": _l("Waiting to be sent"), "delivered": _l("Delivered"), "failed": _l("Failed")}


class EndpointForm(Form):
    url = StringField(_l("Receiver address (http:// or https://)"),
                      validators=[DataRequired(), Length(max=URL_MAX)])
    events = SelectMultipleField(_l("Events to send"), choices=[SelectChoice(k, v) for k, v in EVENT_NAMES.items()],
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    secret = StringField(_l("Secret (optional: leave empty and one is made)"),
                         validators=[Optional(), Length(max=SECRET_MAX)])


@bp.route("/areas/<int:area_id>/webhooks")
@login_required
def index(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    return render_template("webhooks/index.html", area=area, endpoints=webhooks.endpoints(area),
                           event_names=EVENT_NAMES, form=Form())


@bp.route("/areas/<int:area_id>/webhooks/new", methods=["GET", "POST"])
@login_required
def new(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    form = EndpointForm()
    if form.validate_on_submit():
        made = attempt(form, lambda: webhooks.create_endpoint(current_user, area, url=form.url.data,
                                                               events=form.events.data, secret=form.secret.data),
                       _("Endpoint added. Copy the secret now: it is not shown again."))
        if made is not None:
            submission_used()  # answered in place: sent again, the form shows no secret a second time
            endpoint, secret = made
            return render_template("webhooks/created.html", area=area, endpoint=endpoint, secret=secret,
                                   event_names=EVENT_NAMES)
    return render_template("webhooks/new.html", area=area, form=form)


@bp.route("/webhooks/<int:endpoint_id>/disable", methods=["POST"])
@login_required
def disable(endpoint_id: int):
    endpoint = webhooks.visible_endpoint(current_user, endpoint_id)
    form = Form()
    if form.validate_on_submit():
        attempt(form, lambda: webhooks.disable_endpoint(current_user, endpoint), _("Endpoint disabled."))
    return redirect(url_for("webhooks.index", area_id=endpoint.area_id))


@bp.route("/webhooks/<int:endpoint_id>/deliveries")
@login_required
def deliveries(endpoint_id: int):
    endpoint = webhooks.visible_endpoint(current_user, endpoint_id)
    status = request.args.get("status") if request.args.get("status") in DeliveryStatus.__members__ else None
    found = paginate(webhooks.deliveries(endpoint, status), page_arg(), PER_PAGE)
    return render_template("webhooks/deliveries.html", endpoint=endpoint, area=endpoint.area, found=found,
                           status=status, per_page=PER_PAGE, event_names=EVENT_NAMES, status_names=STATUS_NAMES,
                           form=Form())


@bp.route("/webhooks/deliveries/<int:delivery_id>/replay", methods=["POST"])
@login_required
def replay(delivery_id: int):
    delivery = webhooks.visible_delivery(current_user, delivery_id)
    form = Form()
    if form.validate_on_submit():
        attempt(form, lambda: webhooks.replay(current_user, delivery),
                _("Sent again: it goes out within a minute."))
    return redirect(url_for("webhooks.deliveries", endpoint_id=delivery.endpoint_id))
