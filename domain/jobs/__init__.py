"""The periodic jobs: what each does item by item (table.py), how one run goes and is recorded (runner.py), and
the scheduler that runs them on their schedule with one leader among its processes (scheduler.py).

The one place where a periodic job commits: once per item, so one bad row fails alone (rolled back, logged with
its id and traceback, named at the end) and every other item is still done.
"""

from domain.jobs.runner import Job, Run, job_named, run, status
from domain.jobs.table import JOBS

__all__ = ["JOBS", "Job", "Run", "job_named", "run", "status"]
