"""Detached background processes tracked by pid files, so any later command can find and stop them.

A pid file holds the pid, the kernel's start time of that pid and the argv: a pid alone can be reused by an
unrelated process after a crash or reboot, and signalling that one would be a serious bug.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import structlog

log = structlog.get_logger()

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Popen objects of children started by this interpreter: polling them reaps zombies, which would
# otherwise look alive to kill(pid, 0) until this process exits.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class PidRecord:
    """What a pid file says about the process it names."""

    pid: int
    start_ticks: int | None
    argv: tuple[str, ...]


@dataclass(frozen=True)
class ProcessStatus:
    """State of one named background process."""

    name: str
    running: bool
    pid: int | None
    log_path: Path


def start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (Linux /proc), or None when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its closing paren
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].startswith("Z")


def is_alive(pid: int, expected_start: int | None = None) -> bool:
    """True if `pid` runs and, when `expected_start` is given, is still the process that was recorded."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    if _is_zombie(pid):
        return False
    return expected_start is None or start_ticks(pid) in (None, expected_start)


def read_record(pid_path: Path) -> PidRecord | None:
    """The record in `pid_path`, or None if there is none or it is unreadable."""
    try:
        data = json.loads(pid_path.read_text())
        return PidRecord(int(data["pid"]), data.get("start_ticks"), tuple(data.get("argv", ())))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("pid file unreadable", pid_file=str(pid_path), error=str(exc))
        return None


def live_record(pid_path: Path) -> PidRecord | None:
    """The record of a process that still runs; a stale pid file is removed on the way."""
    record = read_record(pid_path)
    if record is None:
        return None
    if is_alive(record.pid, record.start_ticks):
        return record
    log.info("removing stale pid file", pid_file=str(pid_path), pid=record.pid)
    pid_path.unlink(missing_ok=True)
    return None


def write_record(pid_path: Path, record: PidRecord) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = pid_path.with_suffix(pid_path.suffix + ".tmp")
    tmp.write_text(json.dumps({"pid": record.pid, "start_ticks": record.start_ticks, "argv": record.argv}))
    tmp.replace(pid_path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock across processes, so two concurrent starts cannot launch two copies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    pid_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` in a new session (it outlives us and our terminal), output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        out.write(f"=== {datetime.now(UTC).isoformat()} start: {' '.join(argv)}\n".encode())
        out.flush()
        child = subprocess.Popen(  # noqa: S603 - argv is a list built by our own code
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    _children[child.pid] = child
    write_record(pid_path, PidRecord(child.pid, start_ticks(child.pid), tuple(argv)))
    log.info("process started", pid=child.pid, argv0=argv[0], log=str(log_path))
    return child.pid


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the whole process group when `pid` leads one (we start it so), else the process alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return


def wait_gone(pid: int, expected_start: int | None, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `pid` to exit; True if it did."""
    deadline = time.monotonic() + timeout
    while is_alive(pid, expected_start):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(pid_path: Path, timeout: float) -> bool:
    """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns whether a live process was found."""
    record = live_record(pid_path)
    if record is None:
        return False
    _signal(record.pid, signal.SIGTERM)
    if not wait_gone(record.pid, record.start_ticks, timeout):
        log.warning("process ignored SIGTERM, killing", pid=record.pid, timeout_s=timeout)
        _signal(record.pid, signal.SIGKILL)
        wait_gone(record.pid, record.start_ticks, 10.0)
    pid_path.unlink(missing_ok=True)
    return True


def kill_now(pid_path: Path) -> bool:
    """SIGKILL without a chance to clean up (fault tests). Returns whether a live process was found."""
    record = live_record(pid_path)
    if record is None:
        return False
    _signal(record.pid, signal.SIGKILL)
    wait_gone(record.pid, record.start_ticks, 10.0)
    pid_path.unlink(missing_ok=True)
    return True


def _paths(name: str, run_dir: Path) -> tuple[Path, Path]:
    if not _NAME.match(name):
        raise ValueError(f"invalid process name {name!r}: use letters, digits, '_', '.', '-'")
    return run_dir / f"{name}.pid", run_dir / f"{name}.log"


def start_process(name: str, argv: list[str], env: dict[str, str], run_dir: Path) -> int:
    """Start a deployable in the background unless it already runs; returns its pid.

    `env` is laid over this process's environment (PATH, HOME, ... are inherited).
    """
    pid_path, log_path = _paths(name, run_dir)
    with file_lock(run_dir / f".{name}.lock"):
        record = live_record(pid_path)
        if record is not None:
            log.info("process already running", name=name, pid=record.pid)
            return record.pid
        return spawn_detached(argv, log_path=log_path, pid_path=pid_path, env={**os.environ, **env})


def stop_process(name: str, run_dir: Path, timeout: float = 10.0) -> bool:
    """Stop a deployable (SIGTERM, then SIGKILL after `timeout` s); True if it was running."""
    pid_path, _ = _paths(name, run_dir)
    with file_lock(run_dir / f".{name}.lock"):
        return terminate(pid_path, timeout)


def process_status(name: str, run_dir: Path) -> ProcessStatus:
    """Running or not, with pid and log path; clears a stale pid file."""
    pid_path, log_path = _paths(name, run_dir)
    record = live_record(pid_path)
    return ProcessStatus(name, record is not None, record.pid if record else None, log_path)


def list_processes(run_dir: Path) -> list[ProcessStatus]:
    """Status of every process that has a pid file in `run_dir`, by name."""
    if not run_dir.is_dir():
        return []
    return [process_status(p.stem, run_dir) for p in sorted(run_dir.glob("*.pid"))]


@dataclass(frozen=True)
class ComponentStatus:
    """State of one infrastructure component; `address` never contains a password."""

    name: str
    state: Literal["running", "stopped", "external"]
    pid: int | None
    address: str

    @property
    def running(self) -> bool:
        return self.state == "running"


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log, for error messages that explain a failed start."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no {path})"
    return "\n".join(text.splitlines()[-lines:])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc), for servers whose workers leave the parent's process group."""
    children = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:
            continue  # exited while we listed /proc
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            children.append(int(stat_file.parent.name))
    return children


def wait_vanished(pids: Sequence[int], timeout: float) -> bool:
    """Wait until no pid exists at all, zombies included (servers such as PostgreSQL refuse to start while
    the pid in their lock file exists, and a slow init reaps orphans late). True if all vanished."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            is_alive(pid)  # reaps our own children
        remaining = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not remaining:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
