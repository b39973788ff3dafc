"""A private PostgreSQL cluster under the state dir, run with the machine's server binaries.

Durability settings are written explicitly (fsync, synchronous_commit on): the event store is the source of
truth, and a test stack that loses commits on a crash would hide exactly the bugs the fault tests look for.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import quote

import psycopg
import structlog
from psycopg import errors, sql

from hub.stack.processes import ComponentStatus, child_pids, file_lock, is_alive, tail, wait_vanished
from hub.stack.settings import StackSettings
from plumbing.db_roles import Runtime

log = structlog.get_logger()

SERVER_USER = "hubpg"
SUPERUSER = "postgres"
APP_ROLE = "hub"  # the owner: migrations and admin commands; creates the per-test databases
APP_DB = "hub"
#: A runtime role logs in, and that is all (its privileges come from plumbing/db_roles.py).
RUNTIME_ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
_TOOLS = ("initdb", "pg_ctl", "postgres")


class PostgresStartError(RuntimeError):
    """The cluster could not be set up or started; the message says why (log tail or what to install)."""


@dataclass(frozen=True)
class OsUser:
    """The account the server runs as when we are root (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int


def _has_tools(bindir: Path) -> bool:
    return all((bindir / tool).is_file() for tool in _TOOLS)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_bindir() -> Path | None:
    """Server binaries: `pg_config --bindir`, the newest /usr/lib/postgresql/*/bin, then PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is not None:
        candidates.append(Path(pg_ctl).resolve().parent)
    return next((c for c in candidates if _has_tools(c)), None)


def ensure_bindir() -> Path:
    """Find the binaries; as root on Debian install the `postgresql` package (its own cluster is unused)."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresStartError(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install them "
            "(Debian/Ubuntu: `sudo apt-get install postgresql`) or put their folder on PATH"
        )
    log.info("installing postgresql with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)  # noqa: S603
        if done.returncode != 0:
            raise PostgresStartError(
                f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
    bindir = find_bindir()
    if bindir is None:
        raise PostgresStartError("apt-get installed postgresql but its binaries were not found")
    return bindir


def server_user() -> OsUser | None:
    """None when not root (run as ourselves); as root, the system user `hubpg`, created if absent."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        argv = ["useradd", "--system", "--user-group", "--no-create-home"]
        argv += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_USER]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise PostgresStartError(f"useradd {SERVER_USER} failed: {done.stderr}") from None
        entry = pwd.getpwnam(SERVER_USER)
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def read_or_create_secret(path: Path) -> str:
    """A random password kept in a 0600 file, so restarts and other processes reuse it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def _make_traversable(folder: Path) -> None:
    """The server user must pass through every parent of its folder (execute bit only, no listing)."""
    for parent in folder.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("adding o+x so the postgres user can reach its folder", folder=str(parent))
            parent.chmod(mode | stat.S_IXOTH)


def _chown_tree(root: Path, user: OsUser) -> None:
    os.chown(root, user.uid, user.gid)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            # a running server creates and removes files meanwhile (a dropped database, a finished WAL)
            with contextlib.suppress(FileNotFoundError):
                os.chown(Path(folder) / name, user.uid, user.gid, follow_symlinks=False)


class LocalPostgres:
    """One private cluster: TCP on 127.0.0.1 only (scram), unix socket in a private folder (trust)."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.home = self.settings.paths.postgres
        self.data = self.home / "data"
        self.log_path = self.home / "logs" / "postgres.log"
        self.socket_dir = self.home / "socket"
        self.port = self.settings.local_pg_port

    @property
    def dsn(self) -> str:
        """The owner's DSN (role `hub`, database `hub`); exists after the first `start()`."""
        return self._dsn(APP_ROLE, self.home / "hub.password", APP_DB)

    def runtime_dsn(self, runtime: Runtime) -> str:
        """A runtime role's DSN (database `hub`): what the deployables of that role connect with."""
        return self._dsn(runtime.role, self._password_file(runtime.role), APP_DB)

    def runtime_dsns(self) -> dict[Runtime, str]:
        return {runtime: self.runtime_dsn(runtime) for runtime in Runtime}

    def _password_file(self, role: str) -> Path:
        return self.home / f"{role}.password"

    @property
    def superuser_dsn(self) -> str:
        return self._dsn(SUPERUSER, self.home / "superuser.password", "postgres")

    def _dsn(self, role: str, password_file: Path, database: str) -> str:
        if not password_file.exists():
            raise PostgresStartError(f"{password_file} missing: run LocalPostgres.start() first")
        password = quote(password_file.read_text().strip(), safe="")
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 120.0) -> int:
        """Init once, start unless running, ensure the roles and database `hub`; returns the server's pid."""
        with file_lock(self.settings.paths.root / "postgres.lock"):
            bindir = ensure_bindir()
            user = server_user()
            self._prepare_dirs(user)
            self._initdb_once(bindir, user)
            self._write_conf(user)
            pid = self.pid()
            if pid is None:
                self._clear_stale_lock()
                self._pg_ctl(bindir, user, "start", timeout)
                pid = self.pid()
                if pid is None:
                    raise PostgresStartError(f"postgres did not start:\n{tail(self.log_path)}")
                log.info("postgres started", pid=pid, port=self.port)
            else:
                log.info("postgres already running", pid=pid, port=self.port)
            self._ensure_roles()
        return pid

    def stop(self, timeout: float = 60.0) -> bool:
        """Fast shutdown (rolls back open transactions, keeps committed ones); True if it was running."""
        with file_lock(self.settings.paths.root / "postgres.lock"):
            if self.pid() is None:
                return False
            bindir = ensure_bindir()
            try:
                self._pg_ctl(bindir, server_user(), "stop", timeout)
            except PostgresStartError as exc:
                log.warning("pg_ctl stop failed, killing postgres", error=str(exc))
                self._kill_group()
            log.info("postgres stopped", port=self.port)
            return True

    def kill(self) -> bool:
        """SIGKILL the postmaster and its backends, as a crash would; True if it was running."""
        with file_lock(self.settings.paths.root / "postgres.lock"):
            return self._kill_group()

    def status(self) -> ComponentStatus:
        pid = self.pid()
        address = f"127.0.0.1:{self.port}"
        if pid is None:
            return ComponentStatus("postgres", "stopped", None, address)
        return ComponentStatus("postgres", "running", pid, address)

    def pid(self) -> int | None:
        """The live postmaster's pid from postmaster.pid, checked against reuse by its command name."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError, IndexError):
            return None
        return pid if comm in ("postgres", "postmaster") and is_alive(pid) else None

    def _kill_group(self) -> bool:
        """SIGKILL the postmaster, then its children: each backend sits in its own session, so no killpg."""
        pid = self.pid()
        if pid is None:
            return False
        victims = [pid, *child_pids(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        wait_vanished(victims, 10.0)
        return True

    def _clear_stale_lock(self) -> None:
        """Drop postmaster.pid of a dead server whose pid still exists (zombie, or reused elsewhere)."""
        lock = self.data / "postmaster.pid"
        try:
            pid = int(lock.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if not wait_vanished([pid], 5.0):
            log.warning("removing stale postmaster.pid", pid=pid)
            lock.unlink(missing_ok=True)

    def _prepare_dirs(self, user: OsUser | None) -> None:
        for folder in (self.home, self.log_path.parent, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.socket_dir.chmod(0o700)
        read_or_create_secret(self.home / "superuser.password")
        read_or_create_secret(self.home / "hub.password")
        for runtime in Runtime:
            read_or_create_secret(self._password_file(runtime.role))
        socket_file = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_file)) > 103:
            raise PostgresStartError(
                f"unix socket path too long ({socket_file}): use a shorter HUB_STATE_DIR"
            )
        if user is not None:
            _make_traversable(self.home)
            _chown_tree(self.home, user)

    def _run_as(self, user: OsUser | None, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run a server tool as the server user; supplementary groups dropped, cwd readable by it."""
        env = {**os.environ, "HOME": str(self.home), "LC_ALL": "C"}
        return subprocess.run(  # noqa: S603
            argv,
            capture_output=True,
            text=True,
            cwd=self.home,
            env=env,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
            check=False,
        )

    def _initdb_once(self, bindir: Path, user: OsUser | None) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        shutil.rmtree(self.data, ignore_errors=True)  # a half-made cluster from an interrupted initdb
        argv = [str(bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER]
        argv += [f"--pwfile={self.home / 'superuser.password'}", "-E", "UTF8", "--locale=C"]
        argv += ["--auth-host=scram-sha-256", "--auth-local=trust", "--data-checksums"]
        log.info("initdb", data=str(self.data))
        done = self._run_as(user, argv)
        if done.returncode != 0:
            raise PostgresStartError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _write_conf(self, user: OsUser | None) -> None:
        """Our settings in hub.conf, included last by postgresql.conf; rewritten on each start."""
        conf = self.data / "hub.conf"
        conf.write_text(
            "# written by hub.stack.postgres on every start\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "unix_socket_permissions = 0700\n"
            "max_connections = 200\n"
            "fsync = on\n"
            "synchronous_commit = on\n"
            "full_page_writes = on\n"
            "password_encryption = 'scram-sha-256'\n"
        )
        main = self.data / "postgresql.conf"
        include = "include_if_exists = 'hub.conf'\n"
        if include not in main.read_text():
            with main.open("a") as handle:
                handle.write("\n" + include)
        if user is not None:
            os.chown(conf, user.uid, user.gid)

    def _pg_ctl(self, bindir: Path, user: OsUser | None, action: str, timeout: float) -> None:
        argv = [str(bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", str(max(1, int(timeout)))]
        if action == "start":
            argv += ["-l", str(self.log_path)]
        else:
            argv += ["-m", "fast"]
        done = self._run_as(user, [*argv, action])
        if done.returncode != 0:
            output = f"{done.stdout}\n{done.stderr}"
            raise PostgresStartError(
                f"pg_ctl {action} failed:\n{output}\n--- {self.log_path}\n{tail(self.log_path)}"
            )

    def _ensure_roles(self) -> None:
        """The owner `hub` (LOGIN, CREATEDB for per-test databases) owning database `hub`, and the runtime
        roles, which own nothing and may only log in; safe to repeat.

        Passwords are set by an ALTER that cannot fail, so they never land in the server log with a failed
        statement; the existence checks only keep the log quiet, the catalogs' unique indexes decide races.
        """
        with psycopg.connect(self.superuser_dsn, autocommit=True, connect_timeout=10) as conn:
            self._ensure_role(conn, APP_ROLE, "LOGIN CREATEDB NOSUPERUSER NOCREATEROLE")
            for runtime in Runtime:
                self._ensure_role(conn, runtime.role, RUNTIME_ROLE_OPTIONS)
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [APP_DB]).fetchone() is None:
                with contextlib.suppress(errors.DuplicateDatabase):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(APP_DB), sql.Identifier(APP_ROLE)
                        )
                    )

    def _ensure_role(self, conn: psycopg.Connection[Any], name: str, options: LiteralString) -> None:
        # keeps the role's password equal to the file even if the file was recreated
        ensure_login_role(conn, name, options, self._password_file(name).read_text().strip())


def ensure_login_role(
    conn: psycopg.Connection[Any], name: str, options: LiteralString, password: str
) -> None:
    """Create role ``name`` unless it exists, then set its ``options`` and password (as a superuser)."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone() is None:
        with contextlib.suppress(errors.DuplicateObject):
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
    conn.execute(
        sql.SQL("ALTER ROLE {} {} PASSWORD {}").format(
            sql.Identifier(name), sql.SQL(options), sql.Literal(password)
        )
    )
