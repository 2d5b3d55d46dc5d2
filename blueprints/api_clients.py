"""The administrator's page of API clients (other systems calling the roster sync): the list, a new client whose key
is shown once, and revoking a key after a confirmation."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from blueprints.bounds import Form, Visible, as_id
from blueprints.forms import attempt
from domain import org
from domain.sync import clients
from domain.sync.roster import synced_people

bp = Blueprint("api_clients", __name__)


class ClientForm(Form):
    name = StringField(_l("Name of the system"), validators=[DataRequired(), Visible(), Length(max=100)])
    area_id = SelectField(_l("Area it may sync"), validators=[DataRequired()])


class RevokeForm(Form):
    confirm = BooleanField(_l("I understand: the system using this key stops at once."),
                           validators=[DataRequired()])


def _page(form: ClientForm, new_key: str | None = None, status: int = 200):
    listed = clients.list_clients(current_user)
    return render_template("api_clients/index.html", clients=listed, form=form, new_key=new_key,
                           revoke_form=RevokeForm(), synced={c.id: synced_people(c) for c in listed}), status


def _form() -> ClientForm:
    form = ClientForm()
    form.area_id.choices = [(str(area.id), area.name) for area in org.areas_to_manage(current_user)]
    return form


@bp.route("/admin/api-clients", methods=["GET", "POST"])
@login_required
def index():
    clients.list_clients(current_user)  # NotFound for anyone but an administrator, before anything else
    form = _form()
    if not form.validate_on_submit():
        return _page(form, status=400 if form.errors else 200)
    area = org.get_area(as_id(form.area_id.data) or 0)
    created = attempt(form, lambda: clients.create_client(current_user, area=area, name=form.name.data),
                      _("Client created. Copy its key now: it is not shown again."))
    # The key is shown on this answer only, never stored nor redirected with.
    return _page(_form() if created else form, new_key=created[1] if created else None)


@bp.route("/admin/api-clients/<int:client_id>/revoke", methods=["POST"])
@login_required
def revoke(client_id: int):
    api_client = clients.get_client(current_user, client_id)
    form = RevokeForm()
    if form.validate_on_submit():
        attempt(form, lambda: clients.revoke_client(current_user, api_client),
                _("Key revoked: the system using it is refused from now on."))
    else:
        flash(_("Tick the box to confirm the key is revoked."), "error")
    return redirect(url_for("api_clients.index"))
