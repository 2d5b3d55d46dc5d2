"""Roster import pages: upload an .xlsx/.csv of residents and heads, see the report, get the template."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.file import FileAllowed, FileField, FileRequired

from blueprints.bounds import Form
from blueprints.forms import xlsx_response
from blueprints.once import submission_used
from domain import org, roster, roster_imports
from domain.access import get_visible
from domain.errors import Conflict, Invalid, Refused
from domain.jobs import roster_imports as running_imports
from models import Area, ImportStatus, Level, RosterImport, transaction

bp = Blueprint("roster", __name__)

#: Bad rows listed on the page; a file wrong throughout would otherwise make a page of 50,000 lines.
REPORT_LIMIT = 500


class RosterForm(Form):
    file = FileField(_l("Roster file (.xlsx or .csv)"), validators=[
        FileRequired(_l("Choose a file.")),
        FileAllowed(["xlsx", "csv"], _l("Upload an .xlsx or .csv file.")),
    ])


def _page(area: Area, form: RosterForm, status: int = 200, **outcome):
    community = area if area.level == Level.community else None
    return render_template(
        "roster/upload.html",
        area=area,
        trail=org.ancestors(area),
        form=form,
        columns=roster.COLUMNS,
        roles=roster.role_examples(community),
        communities=[] if community else roster.target_communities(area),
        max_rows=roster.MAX_ROWS,
        sync_rows=roster_imports.SYNC_ROWS,
        report_limit=REPORT_LIMIT,
        **outcome,
    ), status


@bp.route("/areas/<int:area_id>/roster", methods=["GET", "POST"])
@login_required
def upload(area_id: int):
    area = get_visible(Area, area_id, current_user, "roster.import")
    form = RosterForm()
    if not form.is_submitted():
        return _page(area, form)
    if not form.validate():
        return _page(area, form, 400)
    upload = form.file.data
    try:
        outcome = roster_imports.start(current_user, area, upload.filename or "", upload.read())
    except (Invalid, Refused, Conflict) as error:
        transaction.abandon()
        form.file.errors = [*form.file.errors, str(error.message)]
        return _page(area, form, 400, refusal=error, problems=(error.fields or {}).get("rows", []))
    if isinstance(outcome, RosterImport):  # too large for one request: on its way in the background
        app = current_app._get_current_object()
        transaction.after_commit(lambda: running_imports.run_in_background(app, outcome.id))
        return redirect(url_for("roster.progress", area_id=area.id, import_id=outcome.id), 303)
    submission_used()
    return _page(area, RosterForm(formdata=None), **_finished(outcome, upload.filename))


def _finished(result: roster.ImportResult, filename: str) -> dict:
    return {"result": result, "filename": filename,
            "done": _("Nothing changed: everything in the file was already recorded.") if not result.changed
            else _("The roster is imported.")}


@bp.route("/areas/<int:area_id>/roster/imports/<int:import_id>")
@login_required
def progress(area_id: int, import_id: int):
    """A background import: its progress while it runs (polled by static/js/roster-progress.js), then its result
    or its row errors as a small file's are shown."""
    area = get_visible(Area, area_id, current_user, "roster.import")
    job = roster_imports.visible_import(current_user, area, import_id)
    outcome: dict = {}
    if job.status == ImportStatus.done:
        outcome = _finished(roster_imports.result_of(job), job.filename)
    elif job.status == ImportStatus.failed:
        outcome = {"refusal": Refused(job.errors["code"], job.errors["message"]), "problems": job.errors["rows"]}
    return _page(area, RosterForm(formdata=None), job=job, status_url=url_for(".status", area_id=area.id,
                                                                                import_id=job.id), **outcome)


@bp.route("/areas/<int:area_id>/roster/imports/<int:import_id>.json")
@login_required
def status(area_id: int, import_id: int):
    area = get_visible(Area, area_id, current_user, "roster.import")
    return jsonify(roster_imports.status_of(roster_imports.visible_import(current_user, area, import_id)))


@bp.route("/roster/template.xlsx")
@login_required
def template():
    return xlsx_response(roster.template_workbook(), "roster-template.xlsx")
