"""Command-line operations: the first administrator, the demo district, the periodic jobs, API clients."""

from __future__ import annotations

import click
from flask import Blueprint
from flask.cli import AppGroup

from domain import accounts, jobs, leaderboards, org
from domain.errors import DomainError
from domain.sync import clients
from models import db, transaction

bp = Blueprint("cli", __name__, cli_group=None)


def _group(name: str, help: str) -> AppGroup:
    group = AppGroup(name, help=help)
    bp.cli.add_command(group)
    return group


users = _group("users", "Manage user accounts.")


@users.command("create-admin")
@click.option("--phone", required=True)
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(phone: str, name: str, password: str):
    """Create the first administrator (scope: the whole tree)."""
    try:
        with transaction.unit():
            user = accounts.create_admin(phone, name, password)
    except DomainError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    click.echo(f"Administrator {user.name} ({user.phone}) created.")


@bp.cli.command("seed-demo")
def seed_demo():
    """Load the demo district (does nothing when it is already there)."""
    from domain import demo  # here, not at the top: only this command needs it (~1.5 MB a worker)

    with transaction.unit():
        created = demo.seed()
    click.echo("Demo district loaded." if created else "Demo district already present.")
    click.echo(demo.logins_text())


def _run(name: str, explain=None, **params) -> None:
    """Run one periodic job now (domain/jobs: each item in its own transaction), print its report (its first line
    said by `explain(run)` when given); exit non-zero when an item failed or a check found a problem."""
    done = jobs.run(jobs.job_named(jobs.JOBS, name), **params)
    lines = done.lines()
    if explain is not None and done.ok:
        lines[0] = explain(done)
    for line in lines:
        click.echo(line)
    if not done.ok:
        raise SystemExit(1)


points = _group("points", "Points jobs.")
ledger_group = _group("ledger", "The points ledger.")


@points.command("expire")
def expire_points():
    """Expire points past their date (31 Dec of the year after they were earned). Safe to run again."""
    _run("points expire")


@ledger_group.command("verify")
def verify_ledger():
    """Check every ledger invariant; exit non-zero on any drift."""
    _run("ledger verify")


events_group = _group("events", "Events and check-in jobs.")


@events_group.command("close")
def close_events():
    """Close events whose check-in window has ended: missing check-outs set to the end and flagged, each
    attendance turned into a service record once. Safe to run again."""
    _run("events close")


tasks_group = _group("tasks", "Needs and tasks jobs.")


@tasks_group.command("escalate")
def escalate_tasks():
    """Move needs unclaimed or unresolved past their category's time limit up a tier (unit head → building head →
    grid head → community staff) and tell the next person. Safe to run again: run it every minute or few."""
    _run("tasks escalate")


market_group = _group("market", "Points market jobs.")


@market_group.command("expire")
def expire_redemptions():
    """Expire reservations not picked up in time: points refunded and stock returned, once. Safe to run again."""
    _run("market expire")


@market_group.command("verify")
def verify_market():
    """Check stock conservation, the per-person limit counters, debits and refunds; exit non-zero on drift."""
    _run("market verify")


campaigns_group = _group("campaigns", "Honour campaign jobs.")


@campaigns_group.command("advance")
def advance_campaigns():
    """Move honour campaigns to their next phase when their date has come (and the rules allow). Safe to run again."""
    _run("campaigns advance")


@campaigns_group.command("verify")
def verify_campaigns():
    """Check that every tally equals its vote rows and no voter went over their votes; exit non-zero on drift."""
    _run("campaigns verify")


webhooks_group = _group("webhooks", "Webhooks out.")


@webhooks_group.command("deliver")
def deliver_webhooks():
    """Send the webhook deliveries that are due: signed, retried with backoff, failed after the last attempt. Safe to
    run beside the scheduler: a delivery is taken by one runner only."""
    _run("webhooks deliver")


leaderboards_group = _group("leaderboards", "Leaderboard jobs.")


def _month(_ctx, _param, value: str | None) -> int | None:
    """--month given as YYYY-MM, as 202611."""
    if value is None:
        return None
    try:
        period = leaderboards.parse_period(value) if value.strip() else None
    except DomainError:
        period = None
    if period is None or period.kind != "month":
        raise click.BadParameter(f"{value!r} is not a month: give it as YYYY-MM, e.g. 2026-11.")
    return period.first


def _snapshot_outcome(month: int, taken: int, due: int) -> str:
    """What a snapshot did (`due` rankings to keep that month, `taken` of them now), and when it kept nothing, why."""
    kept = due if taken else leaderboards.kept_rankings(month)[1]
    text = leaderboards.month_text(month)
    if taken:
        return f"{text}: {taken} ranking(s) kept" + (f", {kept - taken} kept before." if kept > taken else ".")
    if not due:
        return f"{text}: 0 rankings kept: no community has points or hours in that month, so there is nothing to rank."
    return (f"{text}: 0 rankings kept: all {kept} ranking(s) of that month were kept before, and a kept ranking "
            "never changes.")


@leaderboards_group.command("snapshot")
@click.option("--month", callback=_month, help="The month to keep, as YYYY-MM (Beijing time), e.g. 2026-11. "
              "Default: last month.")
def snapshot_leaderboards(month: int | None):
    """Keep every community's ranking (points and hours) of a month that is over, as published. Safe to run
    again: a ranking kept once never changes. Run it early each month."""
    month = month or leaderboards.last_month()
    try:
        due, _kept = leaderboards.kept_rankings(month)
    finally:
        transaction.abandon()
    _run("leaderboards snapshot", explain=lambda done: _snapshot_outcome(month, done.done, due), month=month)


jobs_group = _group("jobs", "The scheduler of the periodic jobs.")


@jobs_group.command("run")
@click.option("--for", "seconds", type=float, help="Stop after this many seconds (default: run until stopped).")
def run_jobs(seconds: float | None):
    """Run every periodic job on its schedule (`flask jobs status` lists them). Safe to start on every host: one
    process leads at a time, the others wait and take over when it stops or dies."""
    import logging
    import signal
    import threading
    import time

    from flask import current_app

    from domain.jobs import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    lock = scheduler.leadership(db.engine, current_app.instance_path)
    click.echo(f"Scheduler {jobs.runner.runner_name()} started: {len(jobs.JOBS)} job(s); waiting to lead.")
    scheduler.serve(jobs.JOBS, lock, poll=current_app.config["JOB_POLL_SECONDS"], stop=stop,
                    until=time.monotonic() + seconds if seconds else None)
    click.echo("Scheduler stopped.")


@jobs_group.command("status")
def jobs_status():
    """Each periodic job: its interval, its last run and outcome, its next run (Beijing time)."""
    for each in jobs.status(jobs.JOBS):
        last = each.last
        when = _local(last.started_at) if last else "never"
        outcome = f"{last.outcome.value} ({last.items_done} done, {last.items_failed} failed)" if last else "-"
        click.echo(f"{each.job.name:<22} every {_every(each.every):<6} last {when:<19} {outcome:<28} "
                   f"next {_local(each.next_at)}")
        if last and last.outcome != "ok" and last.message:
            click.echo("    " + last.message.replace("\n", "\n    "))
    transaction.abandon()


def _local(moment) -> str:
    from domain.ledger import SHANGHAI

    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _every(interval) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


api_clients_group = _group("api-clients", "API clients: other systems' keys for the roster sync.")


@api_clients_group.command("create")
@click.option("--area-id", type=int, required=True, help="the area the client may sync")
@click.option("--name", required=True)
def create_api_client(area_id: int, name: str):
    """Create a client of the area and print its key, shown this once."""
    try:
        with transaction.unit():
            client, key = clients.create_client(None, area=org.get_area(area_id), name=name)
    except DomainError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    click.echo(f"API client {client.id} ({client.name}) created; its key: {key}")
    click.echo("Keep it now: it is not shown again.")


@api_clients_group.command("revoke")
@click.option("--id", "client_id", type=int, required=True)
def revoke_api_client(client_id: int):
    """Revoke a client's key: refused from now on."""
    try:
        with transaction.unit():
            client = clients.revoke_client(None, clients.get_client(None, client_id))
    except DomainError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    click.echo(f"API client {client.id} ({client.name}) revoked.")
