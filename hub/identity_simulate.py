"""``hub identity simulate --rules FILE``: what candidate identity rules would change, before they go live.

It replays, in position order, every interaction's sender identities and every staff identity link
and merge in the event store through the same pure resolver the timeline writer runs, twice in
memory: once with the rules in force (``--current`` or ``HUB_IDENTITY_RULES``, else the shipped
file), once with the candidates. Then it compares where each interaction ended up: customers the
candidates would merge that stay apart today, and customers of today the candidates would split.
Nothing is written.

What the replay models: interactions (resolved exactly as the writer does), staff links
(``customer.identity.linked`` with rule ``staff``, applied when the identity is free, as the API
does), staff merges (``customer.absorbed`` with rule ``staff``), and every pair a staff member ever
unmerged (``customer.unmerged``) is treated as separated from the start in both runs. Customer ids
are the writer's (derived from the event that created the customer), so the current run's ids are the
store's ids as long as the current rules are the ones the store was written with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import psycopg
import typer
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import (
    INTERACTION_EVENTS,
    CustomerAbsorbed,
    CustomerUnmerged,
    Envelope,
    Identity,
    IdentityLinked,
    InteractionEvent,
    derived_event_id,
    parse_event,
)
from contracts.base import STORED
from contracts.identity_rules import ConfigError, IdentityRules, load_identity_rules
from plumbing.eventstore.model import EventFilter
from plumbing.eventstore.postgres import Conn, read_all_filtered
from services.timeline.resolve import resolve

app = typer.Typer(help="Identity resolution: try rules before switching them on.", no_args_is_help=True)

STAFF = "staff"
_PAGE = 5_000
_FILTER = EventFilter(
    categories=frozenset({"customer"}),
    event_types=frozenset(
        {cls.EVENT_TYPE for cls in INTERACTION_EVENTS}
        | {IdentityLinked.EVENT_TYPE, CustomerAbsorbed.EVENT_TYPE, CustomerUnmerged.EVENT_TYPE}
    ),
)


@dataclass(frozen=True)
class Interaction:
    event_id: UUID
    position: int
    identities: tuple[Identity, ...]


@dataclass(frozen=True)
class StaffLink:
    customer: UUID
    position: int
    identity: Identity


@dataclass(frozen=True)
class StaffMerge:
    survivor: UUID
    absorbed: UUID
    position: int


Fact = Interaction | StaffLink | StaffMerge


@dataclass(frozen=True)
class History:
    """What the replay needs from the store, in position order, plus every separated pair."""

    facts: tuple[Fact, ...]
    separated: frozenset[frozenset[UUID]]

    @property
    def interactions(self) -> int:
        return sum(isinstance(fact, Interaction) for fact in self.facts)


def history_of(events: Iterable[tuple[int, Envelope]]) -> History:
    """Keep the facts the replay models from parsed events (in position order)."""
    facts: list[Fact] = []
    separated: set[frozenset[UUID]] = set()
    for position, event in events:
        if isinstance(event, InteractionEvent):
            facts.append(Interaction(event.event_id, position, event.sender.identities))
        elif isinstance(event, IdentityLinked) and event.rule == STAFF:
            facts.append(StaffLink(event.customer_id, position, event.identity))
        elif isinstance(event, CustomerAbsorbed) and event.rule == STAFF:
            facts.append(StaffMerge(event.customer_id, event.absorbed_id, position))
        elif isinstance(event, CustomerUnmerged):
            separated.add(frozenset((event.customer_id, event.restored_id)))
    return History(tuple(facts), frozenset(separated))


@dataclass
class Replay:
    """The identity index of one run, in memory: who holds what, who absorbed whom."""

    rules: IdentityRules
    separated: frozenset[frozenset[UUID]]
    owners: dict[str, list[UUID]] = field(default_factory=dict)
    holdings: dict[UUID, set[str]] = field(default_factory=dict)
    seniority: dict[UUID, int] = field(default_factory=dict)
    survivor_of: dict[UUID, UUID] = field(default_factory=dict)
    placed: dict[UUID, UUID] = field(default_factory=dict)

    def live(self, customer: UUID) -> UUID:
        while customer in self.survivor_of:
            customer = self.survivor_of[customer]
        return customer

    def apply(self, fact: Fact) -> None:
        if isinstance(fact, Interaction):
            self._interaction(fact)
        elif isinstance(fact, StaffLink):
            self._staff_link(fact)
        else:
            self._staff_merge(fact)

    def _interaction(self, fact: Interaction) -> None:
        keys = {identity.key for identity in fact.identities}
        known = {key: tuple(self.owners[key]) for key in keys if self.owners.get(key)}
        candidates = {customer for held in known.values() for customer in held}
        resolution = resolve(
            fact.identities,
            known,
            self.seniority,
            derived_event_id(fact.event_id, "customer"),
            self.rules,
            self.separated,
            {customer: self.holdings.get(customer, set()) for customer in candidates},
        )
        customer = resolution.customer_id
        self.seniority.setdefault(customer, fact.position)
        for merge in resolution.merges:
            assert resolution.survivor is not None  # set whenever there are merges
            self._merge(merge.absorbed, resolution.survivor)
        for identity, _ in resolution.links:
            self._link(customer, identity.key)
        self.placed[fact.event_id] = customer

    def _staff_link(self, fact: StaffLink) -> None:
        customer = self.live(fact.customer)
        self.seniority.setdefault(customer, fact.position)
        if not self.owners.get(fact.identity.key):  # the API refuses an identity another customer holds
            self._link(customer, fact.identity.key)

    def _staff_merge(self, fact: StaffMerge) -> None:
        survivor, absorbed = self.live(fact.survivor), self.live(fact.absorbed)
        if survivor != absorbed and survivor in self.seniority and absorbed in self.seniority:
            self._merge(absorbed, survivor)

    def _link(self, customer: UUID, key: str) -> None:
        self.owners.setdefault(key, []).append(customer)
        self.holdings.setdefault(customer, set()).add(key)

    def _merge(self, absorbed: UUID, survivor: UUID) -> None:
        for key in self.holdings.pop(absorbed, set()):
            held = self.owners[key]
            held.remove(absorbed)
            if survivor not in held:
                held.append(survivor)
                self.holdings.setdefault(survivor, set()).add(key)
        self.survivor_of[absorbed] = survivor

    def customer_of(self, event_id: UUID) -> UUID:
        return self.live(self.placed[event_id])


def replay(history: History, rules: IdentityRules) -> Replay:
    run = Replay(rules, history.separated)
    for fact in history.facts:
        run.apply(fact)
    return run


@dataclass(frozen=True)
class Merged:
    """Customers of today the candidates would make one (``into``), and how many interactions they have."""

    customers: tuple[UUID, ...]
    into: UUID
    interactions: int


@dataclass(frozen=True)
class Split:
    """A customer of today the candidates would split, into customers with that many interactions each."""

    customer: UUID
    into: tuple[tuple[UUID, int], ...]


@dataclass(frozen=True)
class Comparison:
    interactions: int
    current_customers: int
    candidate_customers: int
    merges: tuple[Merged, ...]
    splits: tuple[Split, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "interactions": self.interactions,
            "customers": {"current": self.current_customers, "candidate": self.candidate_customers},
            "counts": {
                "merges": len(self.merges),
                "customers_merged": sum(len(m.customers) for m in self.merges),
                "splits": len(self.splits),
            },
            "merges": [
                {
                    "customers": [str(c) for c in m.customers],
                    "into": str(m.into),
                    "interactions": m.interactions,
                }
                for m in self.merges
            ],
            "splits": [
                {
                    "customer": str(s.customer),
                    "into": [{"customer": str(c), "interactions": n} for c, n in s.into],
                }
                for s in self.splits
            ],
        }

    def lines(self) -> Iterator[str]:
        yield f"replayed {self.interactions} interactions"
        yield (
            f"customers: {self.current_customers} with the current rules,"
            f" {self.candidate_customers} with the candidates"
        )
        merged_customers = sum(len(m.customers) for m in self.merges)
        yield f"would merge: {len(self.merges)} group(s) of {merged_customers} customers"
        for merged in self.merges:
            yield f"  {' + '.join(map(str, merged.customers))}  ({merged.interactions} interactions)"
        yield f"would split: {len(self.splits)} customer(s)"
        for split in self.splits:
            parts = ", ".join(f"{c} ({n} interactions)" for c, n in split.into)
            yield f"  {split.customer} -> {parts}"


def _grouped(pairs: Iterable[tuple[UUID, UUID]]) -> dict[UUID, dict[UUID, int]]:
    """key -> {value -> how many pairs}."""
    groups: dict[UUID, dict[UUID, int]] = {}
    for key, value in pairs:
        counts = groups.setdefault(key, {})
        counts[value] = counts.get(value, 0) + 1
    return groups


def compare(history: History, current: IdentityRules, candidate: IdentityRules) -> Comparison:
    """Replay under both rule sets and say which customers of today would merge or split."""
    now, then = replay(history, current), replay(history, candidate)
    placed = [(now.customer_of(e), then.customer_of(e)) for e in now.placed]
    by_candidate = _grouped((after, before) for before, after in placed)
    by_current = _grouped(placed)
    merges = tuple(
        Merged(tuple(sorted(befores, key=str)), after, sum(befores.values()))
        for after, befores in sorted(by_candidate.items(), key=lambda item: str(item[0]))
        if len(befores) > 1
    )
    splits = tuple(
        Split(before, tuple(sorted(afters.items(), key=lambda item: str(item[0]))))
        for before, afters in sorted(by_current.items(), key=lambda item: str(item[0]))
        if len(afters) > 1
    )
    return Comparison(len(placed), len(by_current), len(by_candidate), merges, splits)


async def read_history(conn: Conn) -> History:
    """Every fact the replay models, read from the global log in position order, page by page."""
    parsed: list[tuple[int, Envelope]] = []
    after = 0
    while True:
        page, after_page = await read_all_filtered(conn, after, _PAGE, _FILTER)
        parsed += [(recorded.position, parse_event(recorded.data, STORED)) for recorded in page]
        if after_page == after:
            return history_of(parsed)
        after = after_page


async def _read(dsn: str) -> History:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        return await read_history(conn)


class SimulateSettings(BaseSettings):
    """``HUB_IDENTITY_RULES``: the rules file the timeline writer runs with (None: the shipped one)."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    identity_rules: Path | None = None


def _rules(path: Path | None) -> IdentityRules:
    try:
        return load_identity_rules(path)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
def simulate(
    rules: Annotated[Path, typer.Option(help="the candidate identity rules (TOML)")],
    current: Annotated[
        Path | None,
        typer.Option(help="the rules in force (default: HUB_IDENTITY_RULES, else the shipped file)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
) -> None:
    """Replay the store's identity events through the current and candidate rules; print the difference."""
    from hub.stack import ensure_postgres

    candidate = _rules(rules)
    in_force = _rules(current or SimulateSettings().identity_rules)
    history = asyncio.run(_read(ensure_postgres()))
    comparison = compare(history, in_force, candidate)
    if as_json:
        typer.echo(json.dumps(comparison.as_json(), indent=2))
    else:
        for line in comparison.lines():
            typer.echo(line)
