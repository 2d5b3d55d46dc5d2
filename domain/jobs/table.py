"""The schedule table: every periodic job, one line each, with what it goes through item by item.

Adding a job is one line in JOBS (and, to run it by hand too, a command in blueprints/cli.py calling `_run(name)`).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from domain import events, honours, leaderboards, ledger, market, once, tasks, webhooks
from domain.jobs.roster_imports import run_import, waiting
from domain.jobs.runner import Job, Run
from models import Campaign, db

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def _check(check, run: Run) -> int:
    """A check is an item of a verification: each problem it finds is a failure of the run."""
    for problem in check():
        run.fail(problem)
    return 0


def _advance(campaign_id: int, run: Run) -> int | None:
    report = honours.Report([], [])
    moves = honours.advance_by_schedule(campaign_id, report, now=run.now)
    run.notes += [f"  campaign {cid}: {before.value} → {after.value}" for cid, before, after in report.moved]
    run.notes += [f"  waiting: campaign {cid} 《{db.session.get(Campaign, cid).title}》 ({phase.value}): {why}"
                  for cid, phase, why in report.waiting]
    return moves or None


def _named(check) -> str:
    return f"check {check.__name__}"


def _deliver(delivery_id: int, run: Run) -> int | None:
    sent = webhooks.deliver(delivery_id, now=run.now)
    return None if sent is None else int(sent)


def _campaign_ids(run: Run) -> list[int]:
    return list(db.session.scalars(select(Campaign.id).order_by(Campaign.id)))


def _verify_campaign(campaign_id: int, run: Run) -> int:
    return _check(lambda: honours.verify(db.session.get(Campaign, campaign_id)), run)


JOBS: tuple[Job, ...] = (
    Job("events close", MINUTE, lambda run: events.due_for_closing(now=run.now),
        lambda event_id, run: events.close_if_due(event_id, now=run.now), "event {}".format,
        "{done} event(s) closed, {made} attendance(s) turned into service records."),
    Job("campaigns advance", MINUTE, lambda run: honours.advancing(now=run.now), _advance, "campaign {}".format,
        "{made} phase change(s)."),
    Job("tasks escalate", MINUTE, lambda run: tasks.due_for_escalation(now=run.now),
        lambda task_id, run: tasks.escalate_by_id(task_id, now=run.now) or None, "task {}".format,
        "{done} need(s) moved up, {made} move(s) in all."),
    Job("market expire", 10 * MINUTE, lambda run: market.due_expiries(now=run.now),
        lambda redemption_id, run: market.expire_redemption(redemption_id, now=run.now) or None,
        "redemption {}".format, "{done} redemption(s) expired and refunded."),
    Job("points expire", HOUR, lambda run: ledger.due_expiries(run.now),
        lambda item, run: ledger.expire_lots(*item, now=run.now) or None,
        lambda item: f"account {item[0]} (lots of {item[1]:%Y-%m-%d})", "{done} expiry transaction(s) posted."),
    Job("leaderboards snapshot", 6 * HOUR, lambda run: leaderboards.snapshot_items(run.params.get("month"),
                                                                                    now=run.now),
        lambda item, run: leaderboards.keep(*item, now=run.now) or None,
        lambda item: f"community {item[0]} ({item[2]} of {item[1]})", "{done} ranking(s) kept."),
    Job("roster imports", MINUTE, lambda run: waiting(run.now),
        lambda import_id, run: 1 if run_import(import_id, now=run.now) else None,
        "roster import {}".format, "{done} roster import(s) run."),
    Job("webhooks deliver", MINUTE, lambda run: webhooks.due(now=run.now), _deliver, "webhook delivery {}".format,
        "{done} webhook delivery attempt(s), {made} delivered."),
    Job("form keys purge", DAY, lambda run: ["keys"], lambda _item, run: once.purge(run.now) or None,
        lambda _item: "form submission keys", "{made} used form key(s) older than 30 days forgotten."),
    Job("ledger verify", DAY, lambda run: ledger.CHECKS, _check, _named,
        "Ledger verified: every transaction balances, every balance equals its entries, no person below zero, lots "
        "cover balances, monthly totals match.", "Ledger verification FAILED: {failed} problem(s)"),
    Job("market verify", DAY, lambda run: market.CHECKS, _check, _named,
        "Market verified: every stock equals initial + movements − held, limit counters match, each redemption "
        "debited once and refunded only when cancelled or expired.", "Market verification FAILED: {failed} problem(s)"),
    Job("campaigns verify", DAY, _campaign_ids, _verify_campaign, "campaign {}".format,
        "Campaigns verified: every tally equals its vote rows, no voter used more votes than allowed, every honour "
        "with points has its transaction.", "Campaign verification FAILED: {failed} problem(s)"),
)
