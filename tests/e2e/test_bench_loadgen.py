"""The benchmark's load generator (bench/loadgen, built with the Go toolchain on first use) sends each
prepared request once, intact, and times it from its scheduled send, so a slow server shows in latency."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import Request, drive

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@dataclass
class Recorder:
    """What a loopback server received, and how long it takes to answer."""

    service_s: float = 0.0
    seen: list[tuple[str, str, str | None, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the generator's connections expect

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with recorder.lock:
                recorder.seen.append((self.command, self.path, self.headers.get("X-Signature"), body))
            if recorder.service_s:
                time.sleep(recorder.service_s)  # a deliberately slow server, not a wait in the test
            answer = json.dumps({"accepted": 2}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()


def _requests(count: int) -> list[Request]:
    return [
        Request(
            "POST",
            f"/hook/{n}",
            {"X-Signature": f"sig-{n}"},
            f"body {n}".encode(),
            "even" if n % 2 else "odd",
        )
        for n in range(count)
    ]


def test_paced_requests_are_each_sent_once_intact_at_the_rate(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    outcome = drive(url, _requests(500), rate=100, seconds=1.0, connections=8, count_accepted=True)

    assert 99 <= outcome.sent <= 101 and outcome.ok == outcome.sent and not outcome.failed
    assert sorted(recorder.seen) == sorted(
        ("POST", f"/hook/{n}", f"sig-{n}", f"body {n}".encode()) for n in range(outcome.sent)
    )  # in file order, once each, path, header and body as prepared
    assert outcome.accepted == 2 * outcome.ok
    assert outcome.quantile_ms(0.5) <= outcome.quantile_ms(0.99) < 1000
    assert {label: part["ok"] for label, part in outcome.by_label.items()} == {
        "odd": (outcome.sent + 1) // 2,
        "even": outcome.sent // 2,
    }
    assert not outcome.ran_out


def test_latency_runs_from_the_scheduled_send_so_a_server_that_falls_behind_shows(
    server: tuple[str, Recorder],
) -> None:
    """40 requests/s over one connection to a server that answers 20/s: a closed-loop client would see
    50 ms each; requests due later wait behind the backlog, and that wait is their latency."""
    url, recorder = server
    recorder.service_s = 0.05
    outcome = drive(url, _requests(200), rate=40, seconds=2.0, connections=1)

    assert outcome.ok == outcome.sent >= 79
    assert outcome.quantile_ms(0.99) > 1000, outcome.latency_ms  # about 2 s of backlog by the end
    assert outcome.send_lag_ms["max"] > 1000  # the last ones waited for the connection that long


def test_an_unpaced_run_stops_when_the_prepared_requests_run_out(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    outcome = drive(url, _requests(50), rate=0, seconds=30.0, connections=4)

    assert outcome.ran_out and outcome.sent == outcome.ok == len(recorder.seen) == 50
