"""`make bench` end to end at the tiny scale, so it cannot rot: bench/run.py generates, serves with gunicorn, drives
every measure with wrk (the mixed reads too) and prints the issue's goals table, on each database backend."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import run

ROOT = Path(__file__).resolve().parent.parent


def test_a_tiny_bench_prints_every_goal_with_a_figure_and_no_errors(backend_url, tmp_path):
    if shutil.which("wrk") is None:
        if os.environ.get("TEST_REQUIRE_ALL") == "1":
            pytest.fail("wrk is missing, but TEST_REQUIRE_ALL=1 requires the bench's end-to-end run (make wrk)")
        pytest.skip("wrk is missing (make wrk installs it)")
    backend = "sqlite" if backend_url.startswith("sqlite") else "postgresql"
    command = [sys.executable, "bench/run.py", "--scale", "tiny", "--rounds", "1", "--seconds", "1",
               "--roster-rows", "0", "--export-rows", "0", "--mixed-seconds", "1", "--backends", backend,
               "--redis-url", "", "--results", str(tmp_path)]
    if backend == "postgresql":
        command += ["--database-url", backend_url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "BENCH_DATABASE_URL": ""})
    assert done.returncode == 0, done.stderr[-3000:]

    table = done.stdout[done.stdout.index("goals (issue 21)"):].splitlines()[1:]
    printed = {line.split()[0]: line for line in table if line.strip()}
    assert list(printed) == [key for key, *_rest in run.GOALS]
    for line in printed.values():
        assert re.search(r"\s[\d.]+ (met|NOT met)$", line), line
    assert printed["mixed_errors"].endswith(" 0 met")

    written = json.loads(next(tmp_path.glob("tiny-*.json")).read_text())
    assert len(written["load_before"]) == len(written["load_after"]) == 3
    measured = written["results"][backend]["scales"]["tiny"]
    assert {"hello", "checkin", "redeem", "me", "board", "dash", "mixed"} <= set(measured)
    assert {name: m["errors"] for name, m in measured.items() if isinstance(m, dict) and "errors" in m} == \
        dict.fromkeys((name for name, m in measured.items() if isinstance(m, dict) and "errors" in m), 0)
    assert measured["mixed"]["rps"] > 0
    assert measured["ledger_verify_problems"] == 0
