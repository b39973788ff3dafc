"""The JSON shapes of the analytics answers (their CSV twins flatten the same items).

Declared as the routes' response models so the OpenAPI document describes them, and so masks by kind
(:mod:`plumbing.access.response_masks`) find every personal field in them, as in every other answer.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from contracts.read.analytics import (
    ChannelRow,
    Recommendation,
    Reminder,
    RfmRow,
    SegmentMember,
    SegmentPoint,
    SegmentSize,
    StaffRow,
)


class ChannelReport(BaseModel):
    items: list[ChannelRow]


class StaffReport(BaseModel):
    items: list[StaffRow]


class RfmPage(BaseModel):
    """A page of scores; ``total``: buyers the caller may see in that currency."""

    items: list[RfmRow]
    total: int


class SegmentList(BaseModel):
    items: list[SegmentSize]


class SegmentHistory(BaseModel):
    items: list[SegmentPoint]


class MemberPage(BaseModel):
    """Members without the fields and kinds the caller's roles mask."""

    items: list[SegmentMember]
    next_cursor: str | None = None


class Recommendations(BaseModel):
    items: list[Recommendation]
    customer_id: UUID


class Reminders(BaseModel):
    items: list[Reminder]
