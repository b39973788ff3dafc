"""Webhook secrets of the local stack: random, made once, kept 0600 in the state dir.

Nothing here is a default: a fresh state dir gets fresh secrets, and production sets its own
through the ``HUB_*_SECRETS`` variables.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalSecrets:
    mta: str
    widget: str
    meta_app: str
    meta_verify_token: str
    shopify: str

    def env(self) -> dict[str, str]:
        """The variables the ingress reads them from."""
        return {
            "HUB_MTA_SECRETS": self.mta,
            "HUB_WIDGET_SECRETS": self.widget,
            "HUB_META_APP_SECRETS": self.meta_app,
            "HUB_META_VERIFY_TOKEN": self.meta_verify_token,
            "HUB_SHOPIFY_SECRETS": self.shopify,
        }

    @classmethod
    def generate(cls) -> LocalSecrets:
        return cls(**{name: secrets.token_urlsafe(32) for name in cls.__dataclass_fields__})


def load_or_create(state_dir: Path) -> LocalSecrets:
    """The secrets stored in ``state_dir``, made on first use."""
    path = state_dir / "webhook-secrets.json"
    if path.exists():
        return LocalSecrets(**json.loads(path.read_text()))
    state_dir.mkdir(parents=True, exist_ok=True)
    made = LocalSecrets.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(made), out)
    return made
