"""Mailgun inbound routes: ``POST /webhooks/email/mailgun`` (a route's ``forward()`` or ``store(notify=)``).

Mailgun signs ``timestamp + token`` (two fields of the posted form), not the body: ``signature`` is
the hex HMAC-SHA256 of that text with the domain's HTTP webhook signing key. So the verifier reads
the form (the same parser the translator uses), checks the signature against every configured key
(``HUB_MAILGUN_SECRETS=new,old`` while rotating), and then that ``timestamp`` is within
``signature_window_s`` of now, in either direction. Mailgun also suggests remembering tokens; here
a replay inside the window is harmless, since the event id comes from the Message-Id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import SecretStr

from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint, Verifier
from services.ingress.errors import InvalidPayload, InvalidSignature
from services.ingress.settings import IngressSettings
from services.ingress.translate import mailgun
from services.ingress.translate._form import Form, read_form
from services.ingress.verify import check_timestamp, verify_hex_signature

DEFAULT_WINDOW_S: int = IngressSettings.model_fields["signature_window_s"].default


def verify_form(form: Form, secrets: Sequence[SecretStr], *, window_s: int, now: float | None = None) -> int:
    """Accept a form whose ``signature`` signs its ``timestamp`` and ``token`` recently (returning the
    matching secret's index), or raise."""
    timestamp, token, signature = (form.text(name) for name in ("timestamp", "token", "signature"))
    for name, value in (("timestamp", timestamp), ("token", token), ("signature", signature)):
        if value is None or not value.strip():
            raise InvalidSignature(f"missing field {name}")
    assert timestamp is not None and token is not None  # for mypy: checked just above
    index = verify_hex_signature((timestamp + token).encode("utf-8"), signature, secrets, prefix="")
    check_timestamp(timestamp, window_s, now=now)
    return index


def verifier(window_s: int) -> Verifier:
    """Mailgun's check with a timestamp window of ``window_s`` seconds."""

    def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
        try:
            form = read_form(delivery)
        except InvalidPayload:
            raise InvalidSignature("missing signature: the body is not a readable form") from None
        return verify_form(form, secrets, window_s=window_s)

    return verify


def _configure(endpoint: Endpoint, settings: IngressSettings) -> Endpoint:
    return replace(endpoint, verify=verifier(settings.signature_window_s))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/email/mailgun",
        "email",
        mailgun.PROVIDER,
        "A Mailgun inbound route post (forward or store-and-notify; urlencoded or multipart form),"
        " signed by `signature` = hex HMAC-SHA256 of `timestamp` + `token` with the webhook signing key.",
        lambda s: s.mailgun_secrets,
        verifier(DEFAULT_WINDOW_S),
        mailgun.translate,
        attachments=mailgun.attachment_blobs,
        scheme="hmac-sha256-hex:signature(timestamp+token)",
        select=mailgun.translator_for,
        configure=_configure,
    ),
)
