"""Command-line operations: the first administrator, the demo district."""

from __future__ import annotations

import click
from flask import Blueprint
from flask.cli import AppGroup

from domain import accounts, demo, events, ledger
from domain.errors import DomainError
from models import db

bp = Blueprint("cli", __name__, cli_group=None)

users = AppGroup("users", help="Manage user accounts.")
bp.cli.add_command(users)


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
    created = demo.seed()
    db.session.commit()
    click.echo("Demo district loaded." if created else "Demo district already present.")
    click.echo(demo.logins_text())


points = AppGroup("points", help="Points jobs.")
bp.cli.add_command(points)
ledger_group = AppGroup("ledger", help="The points ledger.")
bp.cli.add_command(ledger_group)


@points.command("expire")
def expire_points():
    """Expire points past their date (31 Dec of the year after they were earned). Safe to run again."""
    total = 0
    while posted := ledger.expire_points():
        db.session.commit()
        total += posted
    click.echo(f"{total} expiry transaction(s) posted.")


@ledger_group.command("verify")
def verify_ledger():
    """Check every ledger invariant; exit non-zero on any drift."""
    problems = ledger.verify()
    db.session.rollback()
    if problems:
        click.echo(f"Ledger verification FAILED: {len(problems)} problem(s)")
        for problem in problems:
            click.echo(f"  - {problem}")
        raise SystemExit(1)
    click.echo("Ledger verified: every transaction balances, every balance equals its entries, no person below "
               "zero, lots cover balances, monthly totals match.")


events_group = AppGroup("events", help="Events and check-in jobs.")
bp.cli.add_command(events_group)


@events_group.command("close")
def close_events():
    """Close events whose check-in window has ended: missing check-outs set to the end and flagged, each
    attendance turned into a service record once. Safe to run again."""
    closed, attendances = events.close_due()
    db.session.commit()
    click.echo(f"{closed} event(s) closed, {attendances} attendance(s) turned into service records.")
