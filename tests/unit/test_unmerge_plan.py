"""The unmerge plan: which identities and events go back to the absorbed customer, decided from streams.

Streams are built here the way the timeline writer and the staff commands write them: a new customer's
links come before the message that caused them, a merge appends ``customer.absorbed`` to the survivor
right before the evidence (and its links), and ``customer.merged_into`` closes the absorbed stream.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import pytest

from contracts import (
    BlobRef,
    ChatMessageReceived,
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    Envelope,
    Identity,
    IdentityKind,
    IdentityLinked,
    IdentityUnlinked,
    RecordingStored,
    Sender,
    customer_stream,
    normalise_identity,
)
from plumbing.eventstore.model import RecordedEvent
from services.api.unmerge_plan import (
    NoMergeToUndo,
    SurvivorMergedAway,
    UnmergePlan,
    merged_into,
    plan_unmerge,
)

pytestmark = pytest.mark.unit
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def email(name: str) -> Identity:
    return normalise_identity(IdentityKind.EMAIL, f"{name}@example.com")


def phone(number: str) -> Identity:
    return normalise_identity(IdentityKind.PHONE, number, default_region="US")


def _envelope() -> dict[str, object]:
    event_id = uuid.uuid4()
    return {"event_id": event_id, "occurred_at": NOW, "received_at": NOW, "correlation_id": str(event_id)}


@dataclass
class Store:
    """An in-memory event store with the writer's habits; ``streams`` is what plans are given."""

    streams: dict[UUID, list[RecordedEvent]] = field(default_factory=lambda: defaultdict(list))
    position: int = 0

    def append(self, customer: UUID, *events: Envelope) -> None:
        stream = self.streams[customer]
        for event in events:
            self.position += 1
            stream.append(
                RecordedEvent(
                    position=self.position,
                    event_id=event.event_id,
                    stream_id=customer_stream(customer),
                    stream_version=len(stream),
                    event_type=event.event_type,
                    schema_version=event.schema_version,
                    data=event.model_dump(mode="json"),
                    metadata={},
                    recorded_at=NOW,
                )
            )

    def _links(
        self, customer: UUID, evidence: UUID, identities: tuple[Identity, ...]
    ) -> list[IdentityLinked]:
        return [
            IdentityLinked(
                **IdentityLinked.type_fields(),
                **_envelope(),
                customer_id=customer,
                identity=identity,
                rule="exact_match",
                evidence_event_id=evidence,
            )
            for identity in identities
        ]

    def message(
        self,
        customer: UUID,
        *identities: Identity,
        new: tuple[Identity, ...] = (),
        prefix: list[Envelope] | None = None,
    ) -> UUID:
        """A chat message from ``identities`` + ``new`` on ``customer``'s stream; ``new`` are linked by it."""
        chat = ChatMessageReceived(
            **_envelope(),
            provider="widget",
            provider_message_id=uuid.uuid4().hex,
            sender=Sender(identities=(*identities, *new)),
            conversation_id="c",
        )
        self.append(customer, *(prefix or []), *self._links(customer, chat.event_id, new), chat)
        return chat.event_id

    def customer(self, *identities: Identity) -> UUID:
        """A new customer, born from a message carrying ``identities``."""
        customer = uuid.uuid4()
        self.message(customer, new=identities)
        return customer

    def merge_by(
        self, survivor: UUID, absorbed: UUID, *identities: Identity, new: tuple[Identity, ...] = ()
    ) -> UUID:
        """A message carrying identities of both customers merges them, as the timeline writer does."""
        evidence = uuid.uuid4()
        self.append(
            absorbed,
            CustomerMergedInto(
                **CustomerMergedInto.type_fields(),
                **_envelope(),
                customer_id=absorbed,
                survivor_id=survivor,
                rule="exact_match",
                evidence_event_id=evidence,
                shared_identities=identities,
            ),
        )
        absorbed_event = CustomerAbsorbed(
            **CustomerAbsorbed.type_fields(),
            **_envelope(),
            customer_id=survivor,
            absorbed_id=absorbed,
            rule="exact_match",
            evidence_event_id=evidence,
            shared_identities=identities,
        )
        chat = ChatMessageReceived(
            event_id=evidence,
            **{k: v for k, v in _envelope().items() if k != "event_id"},
            provider="widget",
            provider_message_id=uuid.uuid4().hex,
            sender=Sender(identities=(*identities, *new)),
            conversation_id="c",
        )
        self.append(survivor, absorbed_event, *self._links(survivor, evidence, new), chat)
        return absorbed_event.event_id

    def staff_merge(self, survivor: UUID, absorbed: UUID) -> UUID:
        absorbed_event = CustomerAbsorbed(
            **CustomerAbsorbed.type_fields(),
            **_envelope(),
            customer_id=survivor,
            absorbed_id=absorbed,
            rule="staff",
            evidence_event_id=uuid.uuid4(),
            actor="anna",
        )
        absorbed_event = absorbed_event.model_copy(update={"evidence_event_id": absorbed_event.event_id})
        self.append(
            absorbed,
            CustomerMergedInto(
                **CustomerMergedInto.type_fields(),
                **_envelope(),
                customer_id=absorbed,
                survivor_id=survivor,
                rule="staff",
                evidence_event_id=absorbed_event.event_id,
                actor="anna",
            ),
        )
        self.append(survivor, absorbed_event)
        return absorbed_event.event_id

    def undo(self, survivor: UUID, absorbed: UUID) -> UnmergePlan:
        """Plan and apply an unmerge, as the command does."""
        plan = plan_unmerge(survivor, absorbed, self.streams)
        shared = {
            "merge_event_id": plan.merge_event_id,
            "returned_identities": plan.returned_identities,
            "moved_event_ids": plan.moved_event_ids,
            "actor": "anna",
        }
        unmerged = CustomerUnmerged(
            **CustomerUnmerged.type_fields(),
            **_envelope(),
            **shared,
            customer_id=survivor,
            restored_id=absorbed,
        )
        self.append(survivor, unmerged)
        self.append(
            absorbed,
            CustomerRestored(
                **CustomerRestored.type_fields(),
                **_envelope(),
                **shared,
                customer_id=absorbed,
                survivor_id=survivor,
                unmerge_event_id=unmerged.event_id,
            ),
        )
        return plan

    def staff_link(self, customer: UUID, identity: Identity) -> UUID:
        link = IdentityLinked(
            **IdentityLinked.type_fields(),
            **_envelope(),
            customer_id=customer,
            identity=identity,
            rule="staff",
            evidence_event_id=uuid.uuid4(),
            actor="anna",
        )
        link = link.model_copy(update={"evidence_event_id": link.event_id})
        self.append(customer, link)
        return link.event_id

    def staff_unlink(self, customer: UUID, identity: Identity) -> UUID:
        unlink = IdentityUnlinked(
            **IdentityUnlinked.type_fields(),
            **_envelope(),
            customer_id=customer,
            identity=identity,
            actor="anna",
        )
        self.append(customer, unlink)
        return unlink.event_id

    def recording(self, customer: UUID, call_event_id: UUID) -> UUID:
        stored = RecordingStored(
            **RecordingStored.type_fields(),
            **_envelope(),
            customer_id=customer,
            call_event_id=call_event_id,
            call_id="call-1",
            recording=BlobRef(sha256="0" * 64, size_bytes=10),
            content_type="audio/mpeg",
        )
        self.append(customer, stored)
        return stored.event_id


def keys(plan: UnmergePlan) -> set[str]:
    return {identity.key for identity in plan.returned_identities}


S, A, B, C, X = email("sam"), email("alex"), email("bo"), email("cy"), email("xen")


@pytest.fixture
def store() -> Store:
    return Store()


def test_the_absorbed_customers_own_identities_and_later_messages_go_back_the_survivors_stay(
    store: Store,
) -> None:
    survivor, absorbed = store.customer(S), store.customer(A)
    merge = store.merge_by(survivor, absorbed, S, A)
    from_absorbed = store.message(survivor, A)
    from_survivor = store.message(survivor, S)
    again_absorbed = store.message(survivor, A)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert plan.merge_event_id == merge
    assert keys(plan) == {A.key}
    assert plan.moved_event_ids == (from_absorbed, again_absorbed)
    assert from_survivor not in plan.moved_event_ids


def test_an_event_carrying_identities_of_both_sides_stays_with_the_survivor_even_the_merge_evidence(
    store: Store,
) -> None:
    survivor, absorbed = store.customer(S), store.customer(A)
    store.merge_by(survivor, absorbed, S, A)
    both = store.message(survivor, A, S)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert plan.moved_event_ids == ()
    assert both not in plan.moved_event_ids
    assert keys(plan) == {A.key}


def test_identities_linked_by_a_moved_message_go_back_with_it_and_their_later_messages_too(
    store: Store,
) -> None:
    survivor, absorbed = store.customer(S), store.customer(A)
    store.merge_by(survivor, absorbed, S, A)
    new_phone = phone("+14155550101")
    with_phone = store.message(survivor, A, new=(new_phone,))
    link = store.streams[survivor][-2].event_id  # the writer appends the link right before its cause
    phone_only = store.message(survivor, new_phone)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert keys(plan) == {A.key, new_phone.key}
    assert plan.moved_event_ids == (link, with_phone, phone_only)


def test_identities_linked_by_a_message_that_stays_are_the_survivors(store: Store) -> None:
    survivor, absorbed = store.customer(S), store.customer(A)
    new_phone = phone("+14155550102")
    store.merge_by(survivor, absorbed, S, A, new=(new_phone,))  # the receipt brought a new phone
    phone_and_absorbed = store.message(survivor, new_phone, A)
    phone_only = store.message(survivor, new_phone)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert keys(plan) == {A.key}
    assert phone_and_absorbed not in plan.moved_event_ids
    assert phone_only not in plan.moved_event_ids


def test_customers_the_absorbed_one_had_absorbed_go_back_with_it_unless_that_merge_was_undone(
    store: Store,
) -> None:
    survivor, absorbed = store.customer(S), store.customer(A)
    nested, undone = store.customer(B), store.customer(C)
    store.merge_by(absorbed, nested, A, B)
    store.merge_by(absorbed, undone, A, C)
    store.undo(absorbed, undone)
    store.merge_by(survivor, absorbed, S, A)
    from_nested = store.message(survivor, B)
    from_undone = store.message(undone, C)  # lands on its own stream again, nothing to do with the merge

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert keys(plan) == {A.key, B.key}
    assert plan.moved_event_ids == (from_nested,)
    assert from_undone not in plan.moved_event_ids


def test_a_customer_the_survivor_absorbed_after_the_merge_stays_with_the_survivor(store: Store) -> None:
    survivor, absorbed, later = store.customer(S), store.customer(A), store.customer(X)
    store.merge_by(survivor, absorbed, S, A)
    store.merge_by(survivor, later, A, X)  # a message of the absorbed person glued a third customer on
    from_later = store.message(survivor, X)
    from_absorbed = store.message(survivor, A)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert keys(plan) == {A.key}
    assert plan.moved_event_ids == (from_absorbed,)
    assert from_later not in plan.moved_event_ids


def test_a_recording_follows_its_call_and_media_of_a_staying_call_stays(store: Store) -> None:
    survivor, absorbed = store.customer(S), store.customer(A)
    store.merge_by(survivor, absorbed, S, A)
    moved_call, staying_call = store.message(survivor, A), store.message(survivor, S)
    moved_recording = store.recording(survivor, moved_call)
    staying_recording = store.recording(survivor, staying_call)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert plan.moved_event_ids == (moved_call, moved_recording)
    assert staying_recording not in plan.moved_event_ids


def test_staff_links_on_the_survivor_stay_and_a_removed_absorbed_identity_is_not_returned(
    store: Store,
) -> None:
    survivor, absorbed = store.customer(S), store.customer(A, B)
    store.merge_by(survivor, absorbed, S, A)
    link = store.staff_link(survivor, C)
    unlink = store.staff_unlink(survivor, B)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert keys(plan) == {A.key}
    assert plan.moved_event_ids == (unlink,)
    assert link not in plan.moved_event_ids


def test_an_identity_the_absorbed_customer_had_removed_before_the_merge_is_not_returned(store: Store) -> None:
    survivor, absorbed = store.customer(S), store.customer(A, B)
    store.staff_unlink(absorbed, B)
    store.staff_merge(survivor, absorbed)

    assert keys(plan_unmerge(survivor, absorbed, store.streams)) == {A.key}


def test_a_staff_merge_without_shared_identities_is_undone_like_any_other(store: Store) -> None:
    survivor, absorbed = store.customer(S), store.customer(A)
    merge = store.staff_merge(survivor, absorbed)
    from_absorbed = store.message(survivor, A)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert (plan.merge_event_id, keys(plan), plan.moved_event_ids) == (merge, {A.key}, (from_absorbed,))


def test_no_merge_or_an_undone_merge_cannot_be_undone(store: Store) -> None:
    survivor, absorbed, stranger = store.customer(S), store.customer(A), store.customer(X)
    store.merge_by(survivor, absorbed, S, A)
    with pytest.raises(NoMergeToUndo):
        plan_unmerge(survivor, stranger, store.streams)
    store.undo(survivor, absorbed)
    with pytest.raises(NoMergeToUndo):
        plan_unmerge(survivor, absorbed, store.streams)
    assert merged_into(store.streams[absorbed]) is None


def test_a_survivor_merged_into_a_third_customer_must_be_restored_first(store: Store) -> None:
    survivor, absorbed, third = store.customer(S), store.customer(A), store.customer(X)
    store.merge_by(survivor, absorbed, S, A)
    store.staff_merge(third, survivor)

    with pytest.raises(SurvivorMergedAway, match=str(third)):
        plan_unmerge(survivor, absorbed, store.streams)

    store.undo(third, survivor)
    assert keys(plan_unmerge(survivor, absorbed, store.streams)) == {A.key}


def test_after_a_restore_a_second_merge_is_undone_with_what_the_first_undo_returned(store: Store) -> None:
    survivor, absorbed = store.customer(S), store.customer(A, B)
    store.merge_by(survivor, absorbed, S, A)
    new_phone = phone("+14155550103")
    store.message(survivor, A, new=(new_phone,))
    store.staff_unlink(survivor, B)
    first = store.undo(survivor, absorbed)
    second_merge = store.staff_merge(survivor, absorbed)
    from_phone = store.message(survivor, new_phone)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert keys(first) == {A.key, new_phone.key}
    assert (plan.merge_event_id, keys(plan)) == (second_merge, {A.key, new_phone.key})
    assert plan.moved_event_ids == (from_phone,)


def test_a_weak_identity_both_customers_held_goes_back_and_stays_and_its_messages_stay(store: Store) -> None:
    family_phone = phone("+14155550104")
    survivor, absorbed = store.customer(S, family_phone), store.customer(A, family_phone)
    store.merge_by(survivor, absorbed, S, A)
    phone_only = store.message(survivor, family_phone)
    with_absorbed = store.message(survivor, family_phone, A)

    plan = plan_unmerge(survivor, absorbed, store.streams)

    assert keys(plan) == {A.key, family_phone.key}
    assert plan.kept_by_survivor == {family_phone.key}
    assert phone_only not in plan.moved_event_ids and with_absorbed not in plan.moved_event_ids
