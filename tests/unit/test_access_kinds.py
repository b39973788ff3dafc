"""Masks by kind: every value of a masked kind leaves a document, wherever the model puts it; the safety
net finds known values in free text in the forms people write them."""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel

from contracts.read.analytics import Reminder, SegmentMember
from contracts.read.customer_card import CustomerCard
from contracts.read.kinds import PersonalKind
from plumbing.access.kinds import collect_kinds, mask_kinds, plan
from plumbing.access.masks import optional_view
from plumbing.access.scrub import MARKER, Scrubber, variants
from services.api.attribute_commands import AttributeChanged

pytestmark = pytest.mark.unit

K = PersonalKind
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).isoformat()
EMAIL, PHONE, NAME = "ann.lee@example.org", "+12125550123", "Ann Lee"


def _change(value: Any) -> dict[str, Any]:
    event_id = str(uuid4())
    return {"value": value, "at": NOW, "position": 3, "event_id": event_id, "source_event_id": event_id}


def _card() -> dict[str, Any]:
    """A card as the API dumps it, a contact in every place a card can hold one."""
    absorbed = str(uuid4())
    card = CustomerCard.model_validate(
        {
            "customer_id": str(uuid4()),
            "display_name": NAME,
            "created_at": NOW,
            "updated_at": NOW,
            "merged_from": [absorbed],
            "identities": [
                {"kind": "email", "value": EMAIL, "key": f"email:{EMAIL}", "linked_at": NOW},
                {"kind": "phone", "value": PHONE, "key": f"phone:{PHONE}", "linked_at": NOW},
            ],
            "merge_history": [
                {
                    "kind": "absorbed",
                    "other_customer_id": absorbed,
                    "event_id": str(uuid4()),
                    "position": 2,
                    "occurred_at": NOW,
                    "rule": "email",
                    "identities": [f"email:{EMAIL}", f"phone:{PHONE}"],
                }
            ],
            "recent_interactions": [
                {
                    "position": 1,
                    "event_id": str(uuid4()),
                    "event_type": "interaction.social.received",
                    "channel": "social",
                    "provider": "whatsapp",
                    "summary": "Hello, it is Ann",
                    "occurred_at": NOW,
                    "details": {"conversation_id": PHONE.removeprefix("+"), "network": "whatsapp"},
                }
            ],
            "profile": {"name": NAME, "birthday": "1990-05-17", "children": [{"name": "Bo"}], "car": None},
            "attribute_history": {"name": [{**_change(NAME), "source": "staff"}]},
            "documents": [
                {
                    "kind": "upload",
                    "size_bytes": 3,
                    "content_type": "text/plain",
                    "filename": "ann-passport.pdf",
                    "event_id": str(uuid4()),
                    "position": 4,
                    "occurred_at": NOW,
                }
            ],
        }
    )
    dumped: dict[str, Any] = card.model_dump(mode="json")
    return dumped


def test_masked_contacts_leave_the_whole_card_merge_history_and_interaction_details_included() -> None:
    card = _card()

    masked = mask_kinds(plan(CustomerCard), card, frozenset({K.CONTACTS}))

    assert EMAIL not in repr(masked) and PHONE.removeprefix("+") not in repr(masked)
    assert {"identities", "emails", "phones"}.isdisjoint(masked)
    assert "identities" not in masked["merge_history"][0]  # absent, not emptied
    assert masked["merge_history"][0]["other_customer_id"] == card["merge_history"][0]["other_customer_id"]
    assert "conversation_id" not in masked["recent_interactions"][0]["details"]
    assert masked["display_name"] == NAME and masked["recent_interactions"][0]["summary"]


def test_each_kind_takes_only_its_own_values() -> None:
    card = _card()
    node = plan(CustomerCard)

    names = mask_kinds(node, card, frozenset({K.NAMES}))
    profile = mask_kinds(node, card, frozenset({K.PROFILE}))
    messages = mask_kinds(node, card, frozenset({K.MESSAGES}))
    documents = mask_kinds(node, card, frozenset({K.DOCUMENTS}))

    assert "display_name" not in names and "name" not in names["profile"]
    assert "name" not in names["attribute_history"] and "children" not in names["profile"]
    assert NAME not in repr(names) and names["emails"] == [EMAIL]
    assert {"birthday", "children"}.isdisjoint(profile["profile"]) and profile["profile"]["name"] == NAME
    assert "summary" not in messages["recent_interactions"][0] and messages["display_name"] == NAME
    assert "documents" not in documents and documents["document_count"] == card["document_count"]


def test_nothing_masked_leaves_the_document_as_it_was() -> None:
    card = _card()

    assert mask_kinds(plan(CustomerCard), card, frozenset()) is card


def test_the_optional_view_of_the_card_masks_like_the_card() -> None:
    card, view = _card(), optional_view(CustomerCard, "CardViewForKinds")
    every = frozenset(PersonalKind)

    assert mask_kinds(plan(view), card, every) == mask_kinds(plan(CustomerCard), card, every)


def test_an_attribute_value_is_of_its_attributes_kind() -> None:
    node = plan(AttributeChanged)
    base = {"customer_id": str(uuid4()), "event_id": str(uuid4()), "position": 1}
    name = {**base, "attribute": "name", "value": NAME}
    tea = {**base, "attribute": "preferences", "value": ["tea"]}

    assert "value" not in mask_kinds(node, name, frozenset({K.NAMES}))
    assert mask_kinds(node, tea, frozenset(PersonalKind)) == tea
    assert mask_kinds(node, name, frozenset({K.CONTACTS})) == name


def test_a_birthday_reminders_reason_is_a_profile_detail_and_other_reasons_are_not() -> None:
    node = plan(Reminder)
    base = {"reminder_id": str(uuid4()), "rule": "r", "customer_id": str(uuid4()), "title": "t"}
    base |= {"owner_id": None, "triggers": []}
    birthday = {**base, "kind": "birthday", "reason": "birthday on 2026-05-17"}
    loyalty = {**base, "kind": "loyalty_discount", "reason": "3 purchases"}

    assert "reason" not in mask_kinds(node, birthday, frozenset({K.PROFILE}))
    assert mask_kinds(node, loyalty, frozenset({K.PROFILE})) == loyalty


def test_a_list_of_members_loses_names_and_contacts_but_keeps_ids() -> None:
    member = {"customer_id": str(uuid4()), "display_name": NAME, "emails": [EMAIL], "phones": [PHONE]}
    member |= {"traits": {"customer_id": member["customer_id"]}}

    masked = mask_kinds(plan(list[SegmentMember]), [member], frozenset({K.NAMES, K.CONTACTS}))

    assert masked == [{"customer_id": member["customer_id"], "traits": member["traits"]}]


def test_the_values_of_a_kind_are_collected_from_everywhere_on_the_card() -> None:
    found = set(collect_kinds(plan(CustomerCard), _card(), frozenset({K.CONTACTS})))

    assert found == {EMAIL, PHONE, f"email:{EMAIL}", f"phone:{PHONE}", PHONE.removeprefix("+")}


def test_only_the_parts_of_a_marked_object_that_carry_its_kind_are_collected_never_its_structure() -> None:
    card = _card()
    node = plan(CustomerCard)

    names = set(collect_kinds(node, card, frozenset({K.NAMES})))
    documents = set(collect_kinds(node, card, frozenset({K.DOCUMENTS})))

    assert names == {NAME, "Bo"}  # display name, profile name, its history's values, a child's name
    assert documents == {"ann-passport.pdf"}  # not its kind, type, event id or time


def test_variants_cover_the_ways_a_contact_is_written() -> None:
    assert {PHONE, "12125550123", "2125550123"} <= variants(f"phone:{PHONE}")
    assert {"handle:instagram:ann_lee", "ann_lee"} <= variants("handle:instagram:ann_lee")
    assert variants("Bo") == set()


def test_the_safety_net_scrubs_whole_values_from_free_text_in_any_case_but_not_keys() -> None:
    scrubber = Scrubber([EMAIL, PHONE, NAME, "Mark"])
    document = {
        "title": f"Call ANN LEE at (212) 555-0123 or {EMAIL.upper()}",
        "2125550123": "x",
        "n": 2125550123,
    }

    scrubbed = scrubber.document(document)

    assert scrubbed == {"title": f"Call {MARKER} at {MARKER} or {MARKER}", "2125550123": "x", "n": 2125550123}
    assert (
        scrubber.text("Marketing, Mark, 212-555-0123") == f"Marketing, {MARKER}, 212-555-0123"
    )  # forms it knows
    assert Scrubber(["12125550123"]).text("wa 12125550123.") == f"wa {MARKER}."


# --- every text field of the read models is marked with a kind, or named here as carrying none ---

#: Text fields that hold no personal value: ids, codes, channel and provider names, staff ids, hashes.
UNMARKED_TEXT = {
    "CustomerCard.merge_history[].rule",
    "CustomerCard.merge_history[].actor",
    "CustomerCard.channels.<key>",
    "CustomerCard.recent_interactions[].event_type",
    "CustomerCard.recent_interactions[].channel",
    "CustomerCard.recent_interactions[].provider",
    "CustomerCard.recent_interactions[].direction",
    "CustomerCard.recent_interactions[].details.network",
    "CustomerCard.recent_interactions[].details.call_id",
    "CustomerCard.recent_interactions[].details.call_status",
    "CustomerCard.recent_interactions[].details.agent",
    "CustomerCard.recent_purchases[].order_id",
    "CustomerCard.recent_purchases[].provider",
    "CustomerCard.recent_purchases[].currency",
    "CustomerCard.recent_purchases[].lines[].sku",
    "CustomerCard.recent_purchases[].lines[].name",
    "CustomerCard.recent_purchases[].lines[].total.currency",
    "CustomerCard.recent_purchases[].lines[].unit_price.currency",
    "CustomerCard.recent_purchases[].lines[].discount.currency",
    "CustomerCard.recent_purchases[].payments[].method",
    "CustomerCard.recent_purchases[].payments[].status",
    "CustomerCard.recent_purchases[].payments[].amount.currency",
    "CustomerCard.recent_refunds[].order_id",
    "CustomerCard.recent_refunds[].refund_id",
    "CustomerCard.recent_refunds[].provider",
    "CustomerCard.recent_refunds[].currency",
    "CustomerCard.profile.car.brand",
    "CustomerCard.profile.car.model",
    "CustomerCard.profile.preferences[]",
    "CustomerCard.profile.language",
    "CustomerCard.attribute_history.*[].provider",
    "CustomerCard.attribute_history.*[].actor",
    "CustomerCard.purchase_totals.<key>",
    "CustomerCard.refund_totals.<key>",
    "CustomerCard.purchase_counts.<key>",
    "CustomerCard.payment_methods.<key>",
    "CustomerCard.lifetime_value.<key>",
    "CustomerCard.average_order.<key>",
}


def _text_paths(annotation: Any, path: str, node_marked: bool) -> set[str]:
    """Paths of unmarked text fields under ``annotation`` (a marked field hides what is inside it)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return set() if node_marked else _text_paths(args[0], path, node_marked)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_text_paths(a, path, node_marked) for a in args if a is not type(None)))
    if origin in (list, tuple):
        return set().union(*(_text_paths(a, f"{path}[]", node_marked) for a in args if a is not Ellipsis))
    if origin is dict:
        keys = {f"{path}.<key>"} if args[0] is str else set()
        return keys | _text_paths(args[1], f"{path}.*", node_marked)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        node = plan(annotation)
        found: set[str] = set()
        for name, info in annotation.model_fields.items():
            marked = name in node.fields and bool(node.fields[name].kinds or node.fields[name].by)
            if not marked:
                found |= _text_paths(info.annotation, f"{path}.{name}", False)
        for name, computed in annotation.model_computed_fields.items():
            marked = name in node.fields and bool(node.fields[name].kinds)
            if not marked:
                found |= _text_paths(computed.return_type, f"{path}.{name}", False)
        return found
    return {path} if annotation is str else set()


def test_every_text_field_of_the_card_is_marked_or_named_as_carrying_no_personal_value() -> None:
    """Fails when the card gains a text field: mark its kind (contracts/read/kinds.py) or name it here."""
    unmarked = _text_paths(CustomerCard, "CustomerCard", False)
    history = {p for p in unmarked if p.startswith("CustomerCard.attribute_history.")}
    unmarked = (unmarked - history) | {
        "CustomerCard.attribute_history.*[]." + p.rsplit(".", 1)[1] for p in history
    }

    assert unmarked == UNMARKED_TEXT
