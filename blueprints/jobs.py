"""The administrator's page of the periodic jobs: each job's last run, its outcome and its next run, as
`flask jobs status` prints them."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from domain import jobs
from domain.access import is_admin
from domain.errors import NotFound

bp = Blueprint("jobs", __name__)

#: What each job does, as the page says it (a job not named here is shown by its command).
JOB_NAMES = {
    "events close": _l("Close ended events: attendance becomes service"),
    "campaigns advance": _l("Move honour campaigns to their next phase"),
    "tasks escalate": _l("Move overdue needs up a tier"),
    "market expire": _l("Expire redemptions not picked up, with refunds"),
    "points expire": _l("Expire points past their date"),
    "leaderboards snapshot": _l("Keep last month's leaderboards"),
    "ledger verify": _l("Check the points ledger"),
    "market verify": _l("Check the market's stock and refunds"),
    "campaigns verify": _l("Check the campaigns' vote tallies"),
    "roster imports": _l("Run the large roster imports waiting in the background"),
    "form keys purge": _l("Forget used form keys older than 30 days"),
    "webhooks deliver": _l("Send webhook deliveries, retrying failed ones"),
}

def every_text(interval) -> str:
    seconds = int(interval.total_seconds())
    if seconds % 86400 == 0:
        return _("every %(n)s day(s)", n=seconds // 86400)
    if seconds % 3600 == 0:
        return _("every %(n)s hour(s)", n=seconds // 3600)
    if seconds % 60 == 0:
        return _("every %(n)s minute(s)", n=seconds // 60)
    return _("every %(n)s second(s)", n=seconds)


OUTCOME_NAMES = {"running": _l("Running"), "ok": _l("OK"), "failed": _l("Failed")}


@bp.route("/admin/jobs")
@login_required
def index():
    if not is_admin(current_user):
        raise NotFound("not_found", _("Not found."))
    return render_template("jobs/index.html", statuses=jobs.status(jobs.JOBS), job_names=JOB_NAMES,
                           outcome_names=OUTCOME_NAMES, every_text=every_text)
