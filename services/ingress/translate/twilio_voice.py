"""Twilio Voice call status callbacks (form-encoded) -> :class:`CallRecorded`.

A call the card shows is one that ended: ``CallStatus=completed`` (it was answered; its
``CallDuration``), and the missed calls ``no-answer``, ``busy``, ``failed`` and ``canceled`` (the
caller hung up while it rang), recorded with their status and a duration of 0: a customer who could
not get through is worth a call back. ``queued``, ``initiated``, ``ringing`` and ``in-progress`` are
progress of a call that has not ended, acknowledged and ignored. A call ends with exactly one of these
final statuses, so the **CallSid** is the provider message id: Twilio's retries of the final callback
are one event.

The customer is the far end: ``From`` on an inbound call, ``To`` on an outbound one (``outbound-api``
and ``outbound-dial``), normalised to E.164 with the default region. A ``client:<name>`` identity
on our side (Twilio Voice SDK) names the agent. The recording is kept as a reference
(``RecordingSid``, ``RecordingUrl``), never the audio.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from contracts import CallRecorded, Direction, IdentityKind, Sender
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate._common import IdentityCandidate, contract_errors, event_id, sender_identities

PROVIDER = "twilio"
ANSWERED = "completed"
#: Final statuses of a call that never connected -> how the summary says it.
MISSED: dict[str, str] = {
    "no-answer": "not answered",
    "busy": "busy",
    "failed": "failed",
    "canceled": "hung up before answer",
}
_CLIENT = "client:"


class Form:
    """A form body's fields; errors name the parameter, never its value."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self._first: dict[str, str] = {}
        for name, value in pairs:
            self._first.setdefault(name, value)

    def optional(self, name: str) -> str | None:
        value = self._first.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise InvalidPayload(f"field {name} is missing")
        return value


def parse_form(raw: bytes) -> list[tuple[str, str]]:
    """The ``application/x-www-form-urlencoded`` parameters in body order (names may repeat)."""
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("body is not a form-encoded parameter list") from None


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[CallRecorded]:
    """One event per ended call (answered or missed); progress statuses raise :class:`IgnoredDelivery`."""
    form = Form(parse_form(raw))
    status = form.required("CallStatus").lower()
    if status != ANSWERED and status not in MISSED:
        raise IgnoredDelivery(f"twilio call status {status[:60]} is not a finished call")
    call_sid = form.required("CallSid")
    direction = _direction(form.required("Direction"))
    from_number, to_number = form.required("From"), form.required("To")
    inbound = direction is Direction.INBOUND
    customer, ours = (from_number, to_number) if inbound else (to_number, from_number)
    sender = _sender(customer, "From" if inbound else "To", default_region)
    duration = _duration(form) if status == ANSWERED else 0
    recording_id = form.optional("RecordingSid")
    with contract_errors("twilio call"):
        event = CallRecorded(
            event_id=event_id(PROVIDER, call_sid),
            occurred_at=_occurred_at(form, received_at),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=call_sid,
            sender=sender,
            summary=_summary(direction, status, duration, recorded=recording_id is not None),
            call_id=call_sid,
            direction=direction,
            from_number=from_number,
            to_number=to_number,
            duration_s=duration,
            status=status,
            agent=ours.removeprefix(_CLIENT) if ours.startswith(_CLIENT) else None,
            recording_id=recording_id,
            recording_url=form.optional("RecordingUrl"),
        )
    return [event]


def _direction(value: str) -> Direction:
    if value == "inbound":
        return Direction.INBOUND
    if value.startswith("outbound"):  # outbound-api (REST) and outbound-dial (<Dial> legs)
        return Direction.OUTBOUND
    raise InvalidPayload("field Direction is not inbound, outbound-api or outbound-dial")


def _sender(number: str, field: str, default_region: str) -> Sender:
    if number.startswith(_CLIENT):
        raise IgnoredDelivery(f"twilio call: field {field} is an app client, not a customer's phone")
    try:
        identities = sender_identities([IdentityCandidate(IdentityKind.PHONE, number, field)], default_region)
    except InvalidPayload:
        # Withheld caller ids arrive as "anonymous" or "+266696687": nobody to attribute the call to.
        raise IgnoredDelivery(f"twilio call: field {field} is withheld or not a phone number") from None
    return Sender(identities=identities)


def _duration(form: Form) -> int:
    text = form.required("CallDuration")
    # ASCII and short: str.isdigit() accepts "²", which int() refuses, and int() refuses 4,300+ digits.
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidPayload("field CallDuration must be a whole number of seconds")
    return int(text)


def _occurred_at(form: Form, received_at: datetime) -> datetime:
    """``Timestamp`` (RFC 2822, when Twilio sent the callback); the receipt time when absent."""
    text = form.optional("Timestamp")
    if text is None:
        return received_at
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise InvalidPayload("field Timestamp is not an RFC 2822 date") from None
    if moment.utcoffset() is None:
        raise InvalidPayload("field Timestamp must include a UTC offset")
    return moment


def _summary(direction: Direction, status: str, duration_s: int, *, recorded: bool) -> str:
    """``Inbound call, 1 min 23 s (recorded)``; a missed one ``Outbound call, busy``."""
    if status in MISSED:
        return f"{direction.value.capitalize()} call, {MISSED[status]}"
    minutes, seconds = divmod(duration_s, 60)
    length = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return f"{direction.value.capitalize()} call, {length}" + (" (recorded)" if recorded else "")
