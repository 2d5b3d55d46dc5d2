"""bench/peer.py end to end on our side, so the harness can't rot: our app under gunicorn (preloaded, as `make serve`
runs it) on a tiny city (2 workers), wrk in one round of 1 s per measure, against a stand-in for pretix.

pretix itself is not installed here (it takes minutes): `make bench-peer` measures the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "stand-in-device-token"  # noqa: S105 - a stand-in's, on 127.0.0.1 for a second


class StandIn(BaseHTTPRequestHandler):
    """A stand-in for pretix, not pretix: answers POST /api/v1/organizers/bench/checkinrpc/redeem/ in the shape of
    pretix's check-in RPC (201 {"status": "ok"} the first time a secret is redeemed, 400 {"status": "error",
    "reason": "already_redeemed"} after; 401 without its device token), and 404 to anything else."""

    protocol_version = "HTTP/1.1"
    redeemed: set[str] = set()
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/api/v1/organizers/bench/checkinrpc/redeem/":
            return self._answer(404, {"detail": "Not found."})
        if self.headers.get("Authorization") != f"Device {TOKEN}" or body.get("lists") != [1]:
            return self._answer(401, {"detail": "Invalid token."})
        with self.lock:
            first = body["secret"] not in self.redeemed
            self.redeemed.add(body["secret"])
        if first:
            return self._answer(201, {"status": "ok", "position": {"secret": body["secret"]}})
        return self._answer(400, {"status": "error", "reason": "already_redeemed"})

    def do_GET(self):  # noqa: N802
        self._answer(404, {"detail": "Not found."})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


class Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # wrk hangs up at the end of its run


def serve_stand_in() -> None:
    """The stand-in in a process of its own (its memory and CPU are what the harness reads): prints its port."""
    server = Quiet(("127.0.0.1", 0), StandIn)
    print(server.server_port, flush=True)
    server.serve_forever()


def test_peer_harness_measures_both_sides_with_no_errors_and_prints_the_ratios(tmp_path):
    if shutil.which("wrk") is None:
        if os.environ.get("TEST_REQUIRE_ALL") == "1":
            pytest.fail("wrk is missing, but TEST_REQUIRE_ALL=1 requires the peer bench's test (apt-get install wrk)")
        pytest.skip("wrk is missing (apt-get install wrk)")
    data = tmp_path / "peer.json"
    data.write_text(json.dumps({"organizer": "bench", "list": 1, "auth": "Device", "token": TOKEN,
                                "secrets": [f"secret-{n}" for n in range(20_000)]}))
    from tests.conftest import PG_URL

    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_DATABASE_URL", "REDIS_URL", "DATABASE_URL")}
    standin = subprocess.Popen([sys.executable, "-m", "tests.test_bench_peer"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    try:
        port = int(standin.stdout.readline())
        out = subprocess.run(
            [sys.executable, "bench/peer.py", "--scale", "tiny", "--rounds", "1", "--seconds", "1",
             "--connections", "4", "--workers", "2", "--again", "20", "--redis-url", "",
             *(["--database-url", PG_URL] if PG_URL else []), "--peer-url", f"http://127.0.0.1:{port}",
             "--peer-pid", str(standin.pid), "--peer-data", str(data), "--results", str(tmp_path)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    finally:
        standin.terminate()
        standin.wait(timeout=10)
        standin.stdout.close()
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ours / pretix:" in out.stdout and "errors over every round: 0" in out.stdout, out.stdout

    result = json.loads(next(tmp_path.glob("peer-*.json")).read_text())
    assert set(result["results"]["ours"]) == {"checkin", "scan", "checkin_again", "scan_again"}
    assert set(result["results"]["pretix"]) == {"redeem", "redeem_again"}
    for measured in result["results"].values():
        for m in measured.values():
            assert m["rps"] > 0 and m["p99"] > 0 and m["cpu_ms"] > 0 and m["errors"] == 0 and m["rounds"] == 1, m
    assert set(result["memory"]) == {"ours", "pretix"}
    assert all(m["rss_mb"]["max"] > 0 and m["pss_mb"]["max"] > 0 for m in result["memory"].values())
    assert result["memory"]["ours"]["workers"] == 2
    assert {"checkin_rps", "checkin_p99", "scan_rps", "checkin_again_rps", "checkin_cpu",
            "pss/pretix_rss"} <= set(result["ratios"])
    assert all(value > 0 for value in result["ratios"].values()), result["ratios"]
    assert len(result["load_before"]) == len(result["load_after"]) == 3


if __name__ == "__main__":
    serve_stand_in()
