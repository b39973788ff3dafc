"""``CallRecorded`` events for the recordings tests: valid, deterministic in their tag."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import CallRecorded, Direction, IdentityKind, Sender, event_id_for, normalise_identity

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


def call_recorded(
    tag: str, *, recording_base: str | None = "https://api.twilio.com", received_at: datetime | None = None
) -> CallRecorded:
    """A finished inbound call; with a recording at ``recording_base`` unless that is None."""
    at = received_at or datetime.now(UTC)
    call_id = f"CA{tag}"
    recording_id = f"RE{tag}" if recording_base is not None else None
    url = (
        f"{recording_base}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_id}"
        if recording_base is not None
        else None
    )
    return CallRecorded(
        event_id=event_id_for("twilio", call_id),
        occurred_at=at,
        received_at=at,
        correlation_id=call_id,
        provider="twilio",
        provider_message_id=call_id,
        sender=Sender(identities=(normalise_identity(IdentityKind.PHONE, "+14155550123"),)),
        call_id=call_id,
        direction=Direction.INBOUND,
        from_number="+14155550123",
        to_number="+15005550006",
        duration_s=42,
        status="completed",
        recording_id=recording_id,
        recording_url=url,
    )
