"""Command-line operations: the first administrator, the demo district."""

from __future__ import annotations

import functools

import click
from flask import Blueprint
from flask.cli import AppGroup

from domain import accounts, events, honours, leaderboards, ledger, market, tasks
from domain.errors import DomainError
from models import Campaign, db

bp = Blueprint("cli", __name__, cli_group=None)


def _group(name: str, help: str) -> AppGroup:
    group = AppGroup(name, help=help)
    bp.cli.add_command(group)
    return group


def _in_batches(job) -> int:
    """Runs a job that works a batch at a time (returning how many it did) until nothing is left, committing each
    batch; returns the total."""
    total = 0
    while done := job():
        db.session.commit()
        total += done
    return total


users = _group("users", "Manage user accounts.")


@users.command("create-admin")
@click.option("--phone", required=True)
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(phone: str, name: str, password: str):
    """Create the first administrator (scope: the whole tree)."""
    try:
        user = accounts.create_admin(phone, name, password)
    except DomainError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    db.session.commit()
    click.echo(f"Administrator {user.name} ({user.phone}) created.")


@bp.cli.command("seed-demo")
def seed_demo():
    """Load the demo district (does nothing when it is already there)."""
    from domain import demo  # here, not at the top: only this command needs it (~1.5 MB a worker)

    created = demo.seed()
    db.session.commit()
    click.echo("Demo district loaded." if created else "Demo district already present.")
    click.echo(demo.logins_text())


def _report(what: str, problems: list, verified: str) -> None:
    """Print a verification's outcome; exit non-zero on any problem."""
    db.session.rollback()
    if problems:
        click.echo(f"{what} verification FAILED: {len(problems)} problem(s)")
        for problem in problems:
            click.echo(f"  - {problem}")
        raise SystemExit(1)
    click.echo(verified)


points = _group("points", "Points jobs.")
ledger_group = _group("ledger", "The points ledger.")


@points.command("expire")
def expire_points():
    """Expire points past their date (31 Dec of the year after they were earned). Safe to run again."""
    click.echo(f"{_in_batches(ledger.expire_points)} expiry transaction(s) posted.")


@ledger_group.command("verify")
def verify_ledger():
    """Check every ledger invariant; exit non-zero on any drift."""
    _report("Ledger", ledger.verify(), "Ledger verified: every transaction balances, every balance equals its "
            "entries, no person below zero, lots cover balances, monthly totals match.")


events_group = _group("events", "Events and check-in jobs.")


@events_group.command("close")
def close_events():
    """Close events whose check-in window has ended: missing check-outs set to the end and flagged, each
    attendance turned into a service record once. Safe to run again."""
    closed, attendances = events.close_due()
    db.session.commit()
    click.echo(f"{closed} event(s) closed, {attendances} attendance(s) turned into service records.")


tasks_group = _group("tasks", "Needs and tasks jobs.")


@tasks_group.command("escalate")
def escalate_tasks():
    """Move needs unclaimed or unresolved past their category's time limit up a tier (unit head → building head →
    grid head → community staff) and tell the next person. Safe to run again: run it every minute or few."""
    moved, moves = tasks.escalate_due()
    db.session.commit()
    click.echo(f"{moved} need(s) moved up, {moves} move(s) in all.")


market_group = _group("market", "Points market jobs.")


@market_group.command("expire")
def expire_redemptions():
    """Expire reservations not picked up in time: points refunded and stock returned, once. Safe to run again."""
    # One reservation per transaction: see market.expire_due.
    click.echo(f"{_in_batches(functools.partial(market.expire_due, batch=1))} redemption(s) expired and refunded.")


@market_group.command("verify")
def verify_market():
    """Check stock conservation, the per-person limit counters, debits and refunds; exit non-zero on drift."""
    _report("Market", market.verify(), "Market verified: every stock equals initial + movements − held, limit "
            "counters match, each redemption debited once and refunded only when cancelled or expired.")


campaigns_group = _group("campaigns", "Honour campaign jobs.")


@campaigns_group.command("advance")
def advance_campaigns():
    """Move honour campaigns to their next phase when their date has come (and the rules allow). Safe to run again."""
    report = honours.advance_due()
    click.echo(f"{len(report.moved)} phase change(s).")
    for campaign_id, before, after in report.moved:
        click.echo(f"  campaign {campaign_id}: {before.value} → {after.value}")
    for campaign_id, phase, why in report.waiting:
        title = db.session.get(Campaign, campaign_id).title
        click.echo(f"  waiting: campaign {campaign_id} 《{title}》 ({phase.value}): {why}")
    db.session.rollback()


@campaigns_group.command("verify")
def verify_campaigns():
    """Check that every tally equals its vote rows and no voter went over their votes; exit non-zero on drift."""
    _report("Campaign", honours.verify(), "Campaigns verified: every tally equals its vote rows, no voter used more "
            "votes than allowed, every honour with points has its transaction.")


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


def _snapshot_outcome(month: int, taken: int) -> str:
    """What a snapshot did, and when it kept nothing, why."""
    due, kept = leaderboards.kept_rankings(month)
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
        taken = leaderboards.snapshot(month)
    except DomainError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    db.session.commit()
    click.echo(_snapshot_outcome(month, taken))
