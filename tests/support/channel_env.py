"""An environment for ``hub channels`` tests: no webhook variable of the developer's shell, an empty
state dir and an empty ``hub.toml``, so each test says exactly which source every secret has."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.local_secrets import SECRET_VARIABLES

#: What ``hub channels`` reads besides the webhook secrets.
OTHER_VARIABLES = (
    "HUB_PUBLIC_BASE_URL",
    "HUB_INGRESS_HOST",
    "HUB_INGRESS_PORT",
    "HUB_TELEGRAM_BOT_TOKEN",
    "HUB_TELEGRAM_API_URL",
    "HUB_SHOPIFY_SHOP",
    "HUB_SHOPIFY_ADMIN_TOKEN",
    "HUB_SHOPIFY_API_VERSION",
    "HUB_SHOPIFY_ADMIN_URL",
)


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Clear the variables, point the state dir and ``hub.toml`` into ``tmp_path``; returns the state dir."""
    for variable in (*SECRET_VARIABLES.values(), *OTHER_VARIABLES):
        monkeypatch.delenv(variable, raising=False)
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "hub.toml"
    config.write_text("")
    monkeypatch.setenv("HUB_STATE_DIR", str(state))
    monkeypatch.setenv("HUB_CONFIG_FILE", str(config))
    monkeypatch.setenv("HUB_MASTER_KEY", os.environ.get("HUB_MASTER_KEY") or "unused-here")
    monkeypatch.setenv("HUB_ID_KEY", os.environ.get("HUB_ID_KEY") or "unused-here")
    monkeypatch.setenv("COLUMNS", "300")  # rich would wrap and cut error boxes
    return state


def write_generated(state: Path, **values: str) -> None:
    """``.state/webhook-secrets.json`` as ``hub up`` leaves it, with ``values`` (the rest made up here)."""
    from hub.local_secrets import LocalSecrets

    stored = {name: f"generated-{name}-0123456789" for name in LocalSecrets.__dataclass_fields__}
    (state / "webhook-secrets.json").write_text(json.dumps({**stored, **values}))
