"""Every ``hub`` command with ``--json`` prints only JSON on stdout (a script pipes it into ``jq``); its log
lines go to stderr. Each runs as its own process, as a person runs it, against this test's store and
topics. The commands are found in the CLI itself, so a new ``--json`` command fails here until it is added.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from hub.cli import app
from hub.stack import Infra
from hub.stack.paths import repo_root
from plumbing.blobs import FileBlobStore
from plumbing.eventstore.postgres import Conn
from plumbing.kafka import SAFE_PRODUCER, TopicSpec, ensure_topics
from plumbing.projection import apply_next_batch
from projections.customer_card.store import CustomerCardProjection
from services.timeline.dlq import dead_letter_headers
from tests.support.audit import chat_with_evidence, email

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

JSON_LINES = {"audit timeline", "dlq list"}
"""Commands that print JSON Lines (one document per line) rather than one document."""


def json_commands() -> set[str]:
    """``group command`` of every command that has a ``--json`` option, found in the CLI itself."""
    found: set[str] = set()

    def walk(command: Any, path: tuple[str, ...]) -> None:  # typer's own (vendored) click classes
        if any("--json" in getattr(param, "opts", ()) for param in command.params):
            found.add(" ".join(path))  # a group's own --json too (``hub channels --json``)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


async def _dead_letter(bootstrap: str, topic: str) -> None:
    await ensure_topics(bootstrap, [TopicSpec(topic)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **SAFE_PRODUCER)
    await producer.start()
    try:
        headers = dead_letter_headers("test.interactions", 0, 7, "not json", 1)
        encoded = [(name, value.encode()) for name, value in headers.items()]
        await producer.send_and_wait(topic, b"\xff not json", key=b"k", headers=encoded)
    finally:
        await producer.stop()


FORKED_COMMANDS = """
import json, os, sys
from hub.cli import app  # imported once; each command then runs in a process of its own, forked from here

runs = json.loads(sys.argv[1])
for number, args in enumerate(runs):
    sys.stdout.flush(), sys.stderr.flush()
    child = os.fork()
    if child == 0:
        for fd, suffix in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"{sys.argv[2]}/{number}.{suffix}", os.O_WRONLY | os.O_CREAT, 0o600), fd)
        try:
            app(args, prog_name="hub")
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        else:
            code = 0
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(child, 0)
    print(os.waitstatus_to_exitcode(status))
"""
"""Runs each command as ``hub ARGS`` runs it (real stdout and stderr, typer's own exit handling) in a
process of its own, forked after one import of the CLI: eight fresh interpreters took a minute here."""


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _run_each(runs: list[list[str]], env: dict[str, str], folder: Path) -> list[Ran]:
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", FORKED_COMMANDS, json.dumps(runs), str(folder)],
        env=env,
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=150,
        check=True,
    )
    codes = [int(line) for line in done.stdout.split()]
    assert len(codes) == len(runs), done.stdout + done.stderr
    read = [((folder / f"{n}.out").read_text(), (folder / f"{n}.err").read_text()) for n in range(len(runs))]
    return [Ran(code, out, err) for code, (out, err) in zip(codes, read, strict=True)]


def _documents(command: str, stdout: str) -> list[object]:
    """stdout parsed as the command's format; raises if any of it is not JSON."""
    if command in JSON_LINES:
        return [json.loads(line) for line in stdout.splitlines()]
    return [json.loads(stdout)]


async def test_every_json_command_prints_only_json_on_stdout_and_logs_on_stderr(
    database: str, pool: AsyncConnectionPool[Conn], infra: Infra, tmp_path: Path
) -> None:
    blob_dir = tmp_path / "blobs"
    tag = uuid.uuid4().hex[:8]
    customer, _ = await chat_with_evidence(pool, FileBlobStore(blob_dir), f"j-{tag}", "hi", email(f"j-{tag}"))
    while await apply_next_batch(pool, CustomerCardProjection(), 100):
        pass  # the live card projection caught up, so the rebuild compares equal
    dead_letters = f"test.{tag}.dlq"
    await _dead_letter(infra.kafka_bootstrap, dead_letters)
    rules = tmp_path / "rules.toml"
    rules.write_text("[kinds.phone]\nmerge = true\n", encoding="utf-8")
    export = tmp_path / "export.csv"
    export.write_text(f"E-mail\nj-{tag}@example.com\n", encoding="utf-8")
    invocations = {
        "audit verify": ["audit", "verify", "--json"],
        "audit timeline": ["audit", "timeline", str(customer), "--json"],
        "dlq list": ["dlq", "list", "--json"],
        "evidence check": ["evidence", "check", "--json"],
        "identity simulate": ["identity", "simulate", "--rules", str(rules), "--json"],
        "replay rebuild": ["replay", "rebuild", "customer_card", "--json"],
        "import customers": ["import", "customers", str(export), "--map=email=E-mail", "--dry-run", "--json"],
        "channels": ["channels", "--json"],
    }
    assert set(invocations) == json_commands(), "a --json command is missing here: add its invocation"
    env = os.environ | {
        "HUB_PG_DSN": database,
        "HUB_BLOB_DIR": str(blob_dir),
        "HUB_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "HUB_TOPICS__DEAD_LETTER": dead_letters,
        "HUB_LOG_LEVEL": "DEBUG",
    }

    done = await asyncio.to_thread(_run_each, list(invocations.values()), env, tmp_path / "output")

    for command, result in zip(invocations, done, strict=True):
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
        assert result.stdout.strip(), f"{command} printed nothing"
        try:
            documents = _documents(command, result.stdout)
        except ValueError as exc:
            pytest.fail(f"{command} printed more than JSON on stdout ({exc}):\n{result.stdout[:1000]}")
        assert all(isinstance(document, dict) for document in documents), command
