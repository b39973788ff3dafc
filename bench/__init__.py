"""Benchmarks that print figures. They seal personal fields with a master key of their own and derive ids
under an id key of their own (the hubs they start inherit both), kept in ``<state dir>/bench/`` so the
databases a bench keeps between runs (``bench_card_<n>``...) still open on the next run.

The keys are read here without importing the hub (an early import would change how logging is set up).
"""

import base64
import os
import secrets
from pathlib import Path


def _bench_key(name: str) -> str:
    """The bench's key ``name`` from the state dir, made on first use (0600, never overwritten)."""
    state = Path(os.environ.get("HUB_STATE_DIR") or Path(__file__).resolve().parents[1] / ".state")
    path = state / "bench" / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    made = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()  # another bench made it first
    except OSError:
        return made  # a read-only checkout: this run's own key
    with os.fdopen(fd, "w") as out:
        out.write(made)
    return made


os.environ.setdefault("HUB_MASTER_KEY", _bench_key("master-key"))
os.environ.setdefault("HUB_ID_KEY", _bench_key("id-key"))
