"""Webhook secrets of the local stack: random, made once, kept 0600 in the state dir.

Nothing here is a default: a fresh state dir gets fresh secrets, and they serve only the channels nobody
configured (``HUB_*_SECRETS`` variables or ``hub.toml`` win: hub/secret_sources.py).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

#: Each secret's variable, the one the ingress reads it from.
SECRET_VARIABLES: dict[str, str] = {
    "mta": "HUB_MTA_SECRETS",
    "widget": "HUB_WIDGET_SECRETS",
    "meta_app": "HUB_META_APP_SECRETS",
    "meta_verify_token": "HUB_META_VERIFY_TOKEN",
    "shopify": "HUB_SHOPIFY_SECRETS",
    "telegram": "HUB_TELEGRAM_SECRETS",
    "vk": "HUB_VK_SECRETS",
    "vk_confirmation": "HUB_VK_CONFIRMATION",
    "mailgun": "HUB_MAILGUN_SECRETS",
    "sendgrid": "HUB_SENDGRID_SECRETS",
    "square": "HUB_SQUARE_SECRETS",
    "twilio": "HUB_TWILIO_SECRETS",
    "till": "HUB_TILL_SECRETS",
    "generic": "HUB_GENERIC_SECRETS",
}


@dataclass(frozen=True)
class LocalSecrets:
    mta: str
    widget: str
    meta_app: str
    meta_verify_token: str
    shopify: str
    telegram: str
    vk: str
    vk_confirmation: str
    mailgun: str
    sendgrid: str
    square: str
    twilio: str
    till: str
    generic: str

    def env(self) -> dict[str, str]:
        """The variables the ingress reads them from."""
        return {variable: getattr(self, name) for name, variable in SECRET_VARIABLES.items()}

    @classmethod
    def generate(cls) -> LocalSecrets:
        return cls(**{name: _fresh(name) for name in cls.__dataclass_fields__})


def _fresh(name: str) -> str:
    """A new random secret in the shape its provider uses (Standard Webhooks: ``whsec_`` + base64)."""
    if name == "generic":
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    if name == "vk_confirmation":
        return secrets.token_hex(4)  # VK's confirmation strings are short codes
    return secrets.token_urlsafe(32)


def load_or_create(state_dir: Path) -> LocalSecrets:
    """The secrets stored in ``state_dir``, made on first use."""
    path = state_dir / "webhook-secrets.json"
    if path.exists():
        stored = json.loads(path.read_text())
        missing = [name for name in LocalSecrets.__dataclass_fields__ if name not in stored]
        if not missing:
            return LocalSecrets(**stored)
        made = LocalSecrets(**{**stored, **{name: _fresh(name) for name in missing}})  # a newer hub
        path.write_text(json.dumps(asdict(made)))
        return made
    state_dir.mkdir(parents=True, exist_ok=True)
    made = LocalSecrets.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(made), out)
    return made


def master_key(state_dir: Path) -> str:
    """The local stack's ``HUB_MASTER_KEY`` (it wraps every customer's data key), made on first use.

    Losing it makes every sealed personal field unreadable, as if every customer had been forgotten:
    production keeps its own in a secret manager, never in a file next to the data.
    """
    from plumbing.eventstore.sealing import generate_master_key

    return _state_key(state_dir / "master-key", generate_master_key)


def id_key(state_dir: Path) -> str:
    """The local stack's ``HUB_ID_KEY`` (event ids and dedupe keys are HMACs under it), made on first use.

    Changing it changes the id every later delivery gets, so a webhook delivered before the change and
    redelivered after it would be stored twice: keep it as long as the store.
    """
    from contracts.ids import generate_id_key

    return _state_key(state_dir / "id-key", generate_id_key)


def _state_key(path: Path, generate: Callable[[], str]) -> str:
    """The key kept in ``path`` (mode 0600), written there by ``generate`` on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(generate())
    return path.read_text().strip()
