"""Pure analytics projection logic: events -> fact rows, deal and task rows, reply times.

The same functions serve the live projection and a rebuild; none reads a clock or the database.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from contracts import (
    CallRecorded,
    Channel,
    CustomerAbsorbed,
    CustomerUnmerged,
    DealEvent,
    DealLost,
    DealOpened,
    DealOwnerChanged,
    DealReopened,
    DealStageMoved,
    DealWon,
    Direction,
    Envelope,
    InteractionEvent,
    PurchaseLine,
    PurchaseRecorded,
    RefundRecorded,
    SocialMessageReceived,
    UnknownEventType,
    event_class,
    parse_event,
    stream_customer,
)
from contracts.base import STORED
from contracts.sales import DealAmountChanged
from contracts.sales_tasks import TaskAssigned, TaskCancelled, TaskCompleted, TaskCreated, TaskEvent
from plumbing.eventstore import RecordedEvent, stream_category

#: Stream categories the analytics projection reads.
CATEGORIES = frozenset({"customer", "deal", "task"})
#: Inbound silence on a channel longer than this makes the next inbound message a new conversation.
CONVERSATION_GAP = timedelta(hours=24)
#: Metadata keys an adapter may set with the campaign a message came from (UTM), preferred as its source.
_CAMPAIGN_KEYS = ("utm_campaign", "campaign", "utm_source")


@dataclass(frozen=True)
class Fact:
    """An event with its store coordinates; ``customer_id`` is its stream's customer, if any."""

    position: int
    event: Envelope
    customer_id: UUID | None
    metadata: dict[str, Any]


#: The events a fact row, a deal, a task or a merge comes from: the others are not parsed at all.
FACT_EVENTS: tuple[type[Envelope], ...] = (
    InteractionEvent,
    DealEvent,
    TaskEvent,
    CustomerAbsorbed,
    CustomerUnmerged,
)


def _class_of(data: dict[str, Any]) -> type[Envelope] | None:
    """The contract :func:`parse_event` would validate ``data`` with; None where it would raise
    :class:`UnknownEventType`."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    return _known(str(data.get("event_type")), version)


@functools.lru_cache(maxsize=1024)
def _known(event_type: str, schema_version: int) -> type[Envelope] | None:
    try:
        return event_class(event_type, schema_version)
    except UnknownEventType:
        return None


def read_facts(events: Iterable[RecordedEvent]) -> tuple[list[Fact], set[UUID]]:
    """The facts among ``events`` (only their events are parsed), and the customers of the streams of
    every known event this projection reads, facts or not (whose aliases a batch looks up)."""
    facts: list[Fact] = []
    customers: set[UUID] = set()
    for recorded in events:
        if stream_category(recorded.stream_id) not in CATEGORIES:
            continue
        data = recorded.data
        kind = _class_of(data)
        if kind is None:
            continue
        customer_id = stream_customer(recorded.stream_id)
        if customer_id is not None:
            customers.add(customer_id)
        if issubclass(kind, FACT_EVENTS):
            event = parse_event(data, STORED)
            facts.append(Fact(recorded.position, event, customer_id, recorded.metadata))
    return facts, customers


def to_fact(recorded: RecordedEvent) -> Fact | None:
    """The fact for an event of a stream this projection reads; None for anything else."""
    facts, _ = read_facts([recorded])
    return facts[0] if facts else None


@dataclass(frozen=True)
class Touch:
    """One interaction, inbound or outbound, purchases included."""

    position: int
    event_id: UUID
    customer_id: UUID
    occurred_at: datetime
    channel: str
    source: str
    direction: str
    agent: str | None
    event_type: str


@dataclass(frozen=True)
class Sale:
    """A purchase or a refund; ``amount`` is positive for both."""

    position: int
    event_id: UUID
    customer_id: UUID
    occurred_at: datetime
    kind: Literal["purchase", "refund"]
    order_id: str
    channel: str
    source: str
    currency: str
    amount: Decimal
    discounted: bool
    items: tuple[str, ...]
    item_names: dict[str, str]


def source_of(event: InteractionEvent, metadata: dict[str, Any]) -> str:
    """The campaign when known (the event's UTM campaign, else its UTM source, else UTM in the metadata),
    else the referring site's host, else the social network, else the provider."""
    campaign = event.campaign
    if campaign is not None and (campaign.name or campaign.source):
        return (campaign.name or campaign.source or "")[:200]
    for key in _CAMPAIGN_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    if campaign is not None and campaign.referrer:
        return campaign.referrer[:200]
    if isinstance(event, SocialMessageReceived):
        return event.network
    return event.provider


def agent_of(event: InteractionEvent, metadata: dict[str, Any]) -> str | None:
    """The staff member behind an interaction: a call's agent; else the channel's ``agent_id`` (a widget
    agent, a till's cashier) qualified by its provider, ``widget:agent-17``, which ``deploy/staff.toml``
    links to a staff member when reports are read; else an ``agent`` the adapter recorded."""
    if isinstance(event, CallRecorded) and event.agent:
        return event.agent
    if event.agent_id:
        return f"{event.provider}:{event.agent_id}"
    value = metadata.get("agent")
    return value if isinstance(value, str) and value else None


def touch_of(fact: Fact) -> Touch | None:
    event = fact.event
    if not isinstance(event, InteractionEvent) or fact.customer_id is None:
        return None
    return Touch(
        position=fact.position,
        event_id=event.event_id,
        customer_id=fact.customer_id,
        occurred_at=event.occurred_at,
        channel=event.channel.value,
        source=source_of(event, fact.metadata),
        direction=event.direction.value,
        agent=agent_of(event, fact.metadata),
        event_type=event.event_type,
    )


def _item(line: PurchaseLine) -> str:
    return line.sku or line.name


def sale_of(fact: Fact) -> Sale | None:
    event = fact.event
    if not isinstance(event, PurchaseRecorded | RefundRecorded) or fact.customer_id is None:
        return None
    money = event.total if isinstance(event, PurchaseRecorded) else event.amount
    items = tuple(dict.fromkeys(_item(line) for line in event.lines))
    return Sale(
        position=fact.position,
        event_id=event.event_id,
        customer_id=fact.customer_id,
        occurred_at=event.occurred_at,
        kind="purchase" if isinstance(event, PurchaseRecorded) else "refund",
        order_id=event.order_id,
        channel=event.channel.value,
        source=source_of(event, fact.metadata),
        currency=money.currency,
        amount=money.amount,
        discounted=isinstance(event, PurchaseRecorded) and event.discounted,
        items=items,
        item_names={_item(line): line.name for line in event.lines},
    )


# --- replies ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thread:
    """A customer's conversation on one channel: since when they wait (None: nobody waits)."""

    customer_id: UUID
    channel: str
    pending_since: datetime | None
    last_at: datetime
    replied: bool


@dataclass(frozen=True)
class Response:
    """The business answered a waiting customer after ``seconds``; ``first``: first answer of a
    conversation."""

    position: int
    customer_id: UUID
    channel: str
    agent: str | None
    inbound_at: datetime
    replied_at: datetime
    seconds: float
    first: bool


def is_conversation(touch: Touch) -> bool:
    """Messages and calls are conversations; sales at the till are not."""
    return touch.channel != Channel.POS.value


def step_thread(thread: Thread | None, touch: Touch) -> tuple[Thread, Response | None]:
    """The thread after ``touch`` and the reply it makes, if it answers a waiting customer."""
    at = touch.occurred_at
    if touch.direction == Direction.INBOUND.value:
        fresh = thread is None or at - thread.last_at > CONVERSATION_GAP
        if thread is None or fresh:
            pending = thread.pending_since if thread is not None else None
            return Thread(touch.customer_id, touch.channel, pending or at, at, replied=False), None
        last = max(thread.last_at, at)
        return replace(thread, pending_since=thread.pending_since or at, last_at=last), None
    if thread is None:
        return Thread(touch.customer_id, touch.channel, None, at, replied=True), None
    after = replace(thread, pending_since=None, last_at=max(thread.last_at, at), replied=True)
    if thread.pending_since is None:
        return after, None
    waited = max(0.0, (at - thread.pending_since).total_seconds())
    response = Response(
        touch.position,
        touch.customer_id,
        touch.channel,
        touch.agent,
        thread.pending_since,
        at,
        waited,
        first=not thread.replied,
    )
    return after, response


# --- deals and tasks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """A stay of a deal in one stage; ``position`` and ``event_id`` are of the event that entered it."""

    stage_id: str
    entered_at: datetime
    left_at: datetime | None
    position: int
    event_id: UUID
    event_type: str


@dataclass(frozen=True)
class DealRow:
    deal_id: UUID
    customer_id: UUID
    pipeline_id: str
    owner_id: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    amount: Decimal
    currency: str
    source_channel: str | None
    source_campaign: str | None
    visits: tuple[Visit, ...]
    open_position: int
    last_position: int

    @property
    def stage_id(self) -> str:
        return self.visits[-1].stage_id

    @property
    def stage_entered_at(self) -> datetime:
        return self.visits[-1].entered_at


def _enter(deal: DealRow, stage_id: str, position: int, event: DealEvent) -> tuple[Visit, ...]:
    at = _moved_at(deal, event)
    *earlier, current = deal.visits
    left = replace(current, left_at=at)
    return (*earlier, left, Visit(stage_id, at, None, position, event.event_id, event.event_type))


def _moved_at(deal: DealRow, event: DealEvent) -> datetime:
    """When a stage change takes effect: never before the current stage was entered (an event's own clock
    may be older, as a purchase's order date once was), so no stay is negative."""
    return max(event.occurred_at, deal.stage_entered_at)


def _deal_changes(deal: DealRow, position: int, event: DealEvent) -> dict[str, Any]:
    at = _moved_at(deal, event)
    if isinstance(event, DealStageMoved):
        return {"visits": _enter(deal, event.to_stage, position, event)}
    if isinstance(event, DealWon):
        money = {"amount": event.amount.amount, "currency": event.amount.currency}
        visits = _enter(deal, event.stage_id, position, event)
        return {"visits": visits, "status": "won", "closed_at": at, **money}
    if isinstance(event, DealLost):
        return {"visits": _enter(deal, event.stage_id, position, event), "status": "lost", "closed_at": at}
    if isinstance(event, DealReopened):
        visits = _enter(deal, event.stage_id, position, event)
        return {"visits": visits, "status": "open", "closed_at": None}
    if isinstance(event, DealAmountChanged):
        return {"amount": event.amount.amount, "currency": event.amount.currency}
    if isinstance(event, DealOwnerChanged):
        return {"owner_id": event.owner_id}
    return {}


def evolve_deal(deal: DealRow | None, position: int, event: Envelope) -> DealRow | None:
    """The deal after ``event``; replays (``position <= last_position``) leave it as it is."""
    if not isinstance(event, DealEvent) or (deal is not None and position <= deal.last_position):
        return deal
    if isinstance(event, DealOpened):
        if deal is not None:
            return deal
        return DealRow(
            deal_id=event.deal_id,
            customer_id=event.customer_id,
            pipeline_id=event.pipeline_id,
            owner_id=event.owner_id,
            status="open",
            opened_at=event.occurred_at,
            closed_at=None,
            amount=event.amount.amount,
            currency=event.amount.currency,
            source_channel=event.source_channel,
            source_campaign=event.source_campaign,
            visits=(
                Visit(event.stage_id, event.occurred_at, None, position, event.event_id, event.event_type),
            ),
            open_position=position,
            last_position=position,
        )
    if deal is None:
        return None
    return replace(deal, **_deal_changes(deal, position, event), last_position=position)


@dataclass(frozen=True)
class TaskRow:
    task_id: UUID
    customer_id: UUID | None
    deal_id: UUID | None
    assignee: str | None
    team: str | None
    created_at: datetime
    due_at: datetime
    status: str
    closed_at: datetime | None
    last_position: int


def evolve_task(task: TaskRow | None, position: int, event: Envelope) -> TaskRow | None:
    """The task after ``event``; replays leave it as it is."""
    if not isinstance(event, TaskEvent) or (task is not None and position <= task.last_position):
        return task
    at = event.occurred_at
    if isinstance(event, TaskCreated):
        if task is not None:
            return task
        return TaskRow(
            task_id=event.task_id,
            customer_id=event.customer_id,
            deal_id=event.deal_id,
            assignee=None,
            team=None,
            created_at=at,
            due_at=event.due_at,
            status="open",
            closed_at=None,
            last_position=position,
        )
    if task is None:
        return None
    if isinstance(event, TaskAssigned):
        return replace(task, assignee=event.assignee, team=event.team, last_position=position)
    if isinstance(event, TaskCompleted):
        return replace(task, status="completed", closed_at=at, last_position=position)
    if isinstance(event, TaskCancelled):
        return replace(task, status="cancelled", closed_at=at, last_position=position)
    return replace(task, last_position=position)
