"""The scheduler (`flask jobs run`) as operators start it: real processes on one database. One leads and runs each
job once per due time; the other waits, and takes over when the leader is killed. Also `flask jobs status`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from domain import jobs
from domain.ledger import SHANGHAI
from models import JobRun, Outcome, db, utcnow
from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 2.0


def _start(app) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "scheduler-test",
           "JOB_INTERVALS": f"*={INTERVAL:g}", "JOB_POLL_SECONDS": "0.2"}
    env.pop("FLASK_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "jobs", "run", "--for", "60"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _runs(app) -> list:
    """(job, runner, started_at) of every run so far, in order."""
    with app.app_context():
        found = db.session.execute(select(JobRun.job, JobRun.runner, JobRun.started_at)
                                   .order_by(JobRun.started_at, JobRun.id)).all()
        db.session.rollback()
        return found


def _wait_for(app, condition, seconds: float = 40.0) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = _runs(app)
        if condition(runs):
            return runs
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {[(r.job, r.runner) for r in _runs(app)]}")


def _pid(run) -> int:
    return int(run.runner.rsplit(":", 1)[1])


def test_two_schedulers_on_one_database_one_runs_each_job_once_then_the_other_takes_over(app, backend):
    first, second = _start(app), _start(app)
    processes = {first.pid: first, second.pid: second}
    try:
        runs = _wait_for(app, lambda runs: len({r.started_at for r in runs if r.job == "events close"}) >= 3)
        leader = _pid(runs[0])
        follower = next(pid for pid in processes if pid != leader)
        assert {_pid(r) for r in runs} == {leader}, "only the leader runs jobs"
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(timeout=10)
        killed_at = len(runs)
        runs = _wait_for(app, lambda runs: sum(_pid(r) == follower and r.job == "events close" for r in runs) >= 3)
        processes[follower].send_signal(signal.SIGTERM)
        follower_output = processes[follower].communicate(timeout=30)[0]
        assert processes[follower].returncode == 0, follower_output
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)
    runs = _runs(app)
    by_leader = [r for r in runs if _pid(r) == leader]
    by_follower = [r for r in runs if _pid(r) == follower]
    assert len(by_leader) >= killed_at and by_follower
    assert max(r.started_at for r in by_leader) < min(r.started_at for r in by_follower), "never two leaders at once"
    for job in jobs.JOBS:
        starts = [r.started_at for r in runs if r.job == job.name]
        gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
        # Once per due time: never two runs of a job within its interval, whichever process ran them.
        assert all(gap >= timedelta(seconds=INTERVAL) for gap in gaps), (job.name, gaps)
    assert "this process leads now" in follower_output and "Scheduler stopped." in follower_output
    closes = [r for r in runs if r.job == "events close"]
    print(f"\n{backend}: two schedulers on one database; process {leader} led and ran "
          f"{sum(_pid(r) == leader for r in closes)} × events close, every {INTERVAL:g} s, the other waited; "
          f"after kill -9 of {leader}, {follower} took over and ran {sum(_pid(r) == follower for r in closes)} × "
          f"events close; {len(runs)} runs of {len(jobs.JOBS)} jobs in all, no job twice within its interval, "
          f"never both at once.")


def test_jobs_status_shows_each_jobs_last_run_outcome_and_next(app, runner):
    assert runner.invoke(args=["events", "close"]).exit_code == 0
    output = runner.invoke(args=["jobs", "status"]).output
    lines = {line.split("  ")[0]: line for line in output.splitlines() if not line.startswith(" ")}
    assert set(lines) == {job.name for job in jobs.JOBS}
    assert "ok (0 done, 0 failed)" in lines["events close"] and "every 1min" in lines["events close"]
    assert "last never" in lines["points expire"] and "every 1h" in lines["points expire"]
    with app.app_context():
        (ran,) = db.session.scalars(select(JobRun)).all()
        assert f"next {(ran.started_at + timedelta(minutes=1)).astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}" \
            in lines["events close"]


def test_the_administrators_page_shows_each_jobs_last_run_outcome_and_next(app, client, runner, tree):
    assert runner.invoke(args=["campaigns", "advance"]).exit_code == 0
    with app.app_context():
        db.session.add(JobRun(job="events close", started_at=utcnow(), finished_at=utcnow(), outcome=Outcome.failed,
                              items_done=2, items_failed=1, runner="host:1",
                              message="2 event(s) closed\n1 of 3 failed:\n  - event 17 (OverflowError: date value "
                                      "out of range)"))
        db.session.commit()
    login(client, tree.admin)
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "定时任务" in page and "评选活动按日程进入下一阶段" in page and "每 1 分钟" in page
    assert 'data-job="campaigns advance" data-outcome="ok"' in page
    assert 'data-job="events close" data-outcome="failed"' in page and "event 17 (OverflowError" in page
    assert 'data-job="points expire" data-outcome="never"' in page and "从未运行" in page
    assert "/admin/jobs" in client.get("/audit", follow_redirects=True).get_data(as_text=True)
    client.post("/logout")
    login(client, tree.staff_a)
    assert client.get("/admin/jobs").status_code == 404


def test_every_job_has_a_name_in_the_persons_language():
    """The administrator's page names each job in words, never by its command ("roster imports")."""
    from blueprints.jobs import JOB_NAMES

    assert {job.name for job in jobs.JOBS} == set(JOB_NAMES)
