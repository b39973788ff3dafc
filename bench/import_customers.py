"""Rows/s of ``hub import customers`` on the real local PostgreSQL (a fresh database per run).

Generates an export of ROWS customers (default 100,000) with 1 % bad rows (a broken email, a phone that
is no number, a birthday in the future, a line with a missing field), each row an id in the old CRM, an
email, a phone, a name, a birthday, a language and an email consent; about 1 % of rows repeat an earlier
customer's email with a new phone (a match, not a new customer). Then runs the command three times as a
person would (``hub import customers FILE --map ... --json``, a process each): a dry run, the import, and
the import again (adds nothing). Prints each run's rows/s (the command's own, over its import loop) and
wall time (process start to exit) as JSON.

Run: ``.venv/bin/python -m bench.import_customers [ROWS] [--narrow]`` (``--narrow``: email, phone and name
only).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.scratch_database import scratch_database
from hub.stack import ensure_infra

MAPS = (
    "external.oldcrm=Customer ID",
    "email=E-mail",
    "phone=Phone",
    "name=Full name",
    "birthday=Birthday",
    "language=Language",
    "consent_email=Newsletter",
)
#: ``--narrow``: the three columns most exports have (3 events a row instead of 7).
NARROW = ("email=E-mail", "phone=Phone", "name=Full name")
HEADER = ["Customer ID", "E-mail", "Phone", "Full name", "Birthday", "Language", "Newsletter"]
_FIRST = ["Ann", "Bob", "Cy", "Dee", "Eve", "Finn", "Gus", "Hana", "Ivo", "Jo"]
_LAST = ["Archer", "Baker", "Cole", "Dunn", "Ellis", "Frost", "Gray", "Hale", "Ives", "Jones"]


def _good(n: int, rng: random.Random) -> list[str]:
    email_of = n if n < 1000 or rng.random() > 0.01 else rng.randrange(n)  # ~1 %: a known customer again
    return [
        f"C{n:07d}",
        f"person{email_of}@example.com",
        f"+1 415 {200 + n // 10_000:03d} {n % 10_000:04d}",
        f"{_FIRST[n % 10]} {_LAST[n // 10 % 10]}",
        f"19{50 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}",
        rng.choice(["en", "de", "pt-BR", "ru"]),
        rng.choice(["yes", "no", ""]),
    ]


def _bad(n: int, row: list[str]) -> list[str]:
    kind = n % 4
    if kind == 0:
        row[1] = "not-an-address"
    elif kind == 1:
        row[2] = "call me"
    elif kind == 2:
        row[4] = "2999-01-01"
    else:
        row = row[:-1]  # a field missing
    return row


def write_export(path: Path, rows: int, seed: int = 7) -> int:
    """The export file; returns how many rows are bad (every 100th)."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            row = _good(n, rng)
            if n % 100 == 99:
                row, bad = _bad(n // 100, row), bad + 1
            writer.writerow(row)
    return bad


class _Backends:
    """CPU seconds of the database's backends (the import's connection), sampled while the command runs
    (a backend's counters go when it closes, so the last sample counts)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.cpu: dict[int, tuple[float, float]] = {}  # pid -> (first seen, last seen)

    def sample(self) -> None:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        for (pid,) in rows:
            now = _cpu_seconds(int(pid))
            if now:
                self.cpu[int(pid)] = (self.cpu.get(int(pid), (now, now))[0], now)

    def seconds(self) -> float:
        return sum(last - first for first, last in self.cpu.values())


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_import(dsn: str, path: Path, *options: str, maps: tuple[str, ...] = MAPS) -> dict[str, Any]:
    """One ``hub import customers`` process: its JSON summary, wall time, and the CPU seconds of the
    process and of its database backend (which, unlike rates, hold on a busy machine)."""
    mapped = [arg for pair in maps for arg in ("--map", pair)]
    argv = [sys.executable, "-c", "from hub.cli import app; app()", "import", "customers", str(path), *mapped]
    backends = _Backends(dsn)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with subprocess.Popen(
        [*argv, "--json", "--no-progress", *options],
        env={**os.environ, "HUB_PG_DSN": dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        reader = threading.Thread(target=lambda: outputs.extend(process.communicate()))
        outputs: list[str] = []
        reader.start()
        while reader.is_alive():
            backends.sample()
            reader.join(0.1)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    backends.conn.close()
    stdout, stderr = outputs
    if process.returncode not in (0, 3):  # 3: some rows were bad, the others imported
        raise RuntimeError(f"import failed ({process.returncode}): {stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(stdout)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"summary": summary, "wall_s": wall, "process_cpu_s": cpu, "database_cpu_s": backends.seconds()}


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    summary = run["summary"]
    rows = summary["rows"]
    return {
        "rows_per_s": summary["rows_per_second"],
        "import_loop_s": summary["seconds"],
        "wall_s": round(run["wall_s"], 2),
        "process_cpu_us_per_row": round(run["process_cpu_s"] / rows * 1e6),
        "database_cpu_us_per_row": round(run["database_cpu_s"] / rows * 1e6),
        "customers": summary["customers"],
        "events": summary["events"],
        "merges": len(summary["merges"]),
        "bad_rows": len(summary["bad_rows"]),
        "imported_before": summary["imported_before"],
    }


def main(rows: int, narrow: bool = False) -> dict[str, Any]:
    infra = ensure_infra()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(infra.pg_dsn) as dsn:
        path = Path(tmp) / "export.csv"
        bad = write_export(path, rows)
        maps = NARROW if narrow else MAPS
        dry = run_import(dsn, path, "--dry-run", maps=maps)
        first = run_import(dsn, path, maps=maps)
        again = run_import(dsn, path, maps=maps)
    return {
        "rows": rows,
        "columns": [pair.partition("=")[0] for pair in (NARROW if narrow else MAPS)],
        "bad_rows_written": bad,
        "load_average": os.getloadavg(),
        "dry_run": _figures(dry),
        "import": _figures(first),
        "import_again": _figures(again),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="rows/s of hub import customers")
    parser.add_argument("rows", nargs="?", type=int, default=100_000)
    parser.add_argument("--narrow", action="store_true", help="map only email, phone and name")
    options = parser.parse_args()
    print(json.dumps(main(options.rows, options.narrow), indent=2))
