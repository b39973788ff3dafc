"""The analytics configuration (``deploy/analytics.toml``, or ``HUB_ANALYTICS_FILE``): saved segment
definitions, reminder rules and recommendation settings. Read once when the API is built; a mistake
(a filter that does not parse, an unknown rule kind, a duplicate id) stops the start."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.api.analytics_segments import FilterError, Node, parse_filter

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class AnalyticsConfigError(ValueError):
    """The analytics file is missing, unreadable or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Segment(_Strict):
    """A saved target group: customers whose traits match ``filter`` (see analytics_segments)."""

    id: Id
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    filter: str = Field(min_length=1)

    @field_validator("filter")
    @classmethod
    def _parses(cls, text: str) -> str:
        try:
            parse_filter(text)
        except FilterError as exc:
            raise ValueError(f"filter {text!r}: {exc}") from exc
        return text

    def tree(self) -> Node:
        return parse_filter(self.filter)


class LoyaltyRule(_Strict):
    """A regular customer (``purchases`` or more within ``within_days``) without a discounted purchase
    for ``no_discount_days`` is due a loyalty discount."""

    id: Id
    kind: Literal["loyalty_discount"]
    purchases: int = Field(default=3, ge=1)
    within_days: int = Field(default=365, ge=1)
    no_discount_days: int = Field(default=90, ge=1)


class BirthdayRule(_Strict):
    """The customer's birthday (card profile) falls within the next ``days_ahead`` days."""

    id: Id
    kind: Literal["birthday"]
    days_ahead: int = Field(default=7, ge=0, le=366)


class SilenceRule(_Strict):
    """No interaction for ``days`` since the customer's last purchase."""

    id: Id
    kind: Literal["silent_after_purchase"]
    days: int = Field(default=60, ge=1)


class StaleDealRule(_Strict):
    """An open deal has sat in its stage longer than the stage's ``stale_after_days``
    (deploy/pipelines.toml)."""

    id: Id
    kind: Literal["stale_deal"]


Rule = Annotated[LoyaltyRule | BirthdayRule | SilenceRule | StaleDealRule, Field(discriminator="kind")]


class Recommendations(_Strict):
    limit: int = Field(default=5, ge=1, le=50)
    min_support: int = Field(default=1, ge=1)


class AnalyticsConfig(_Strict):
    version: Literal[1]
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    segments: tuple[Segment, ...] = ()
    reminders: tuple[Rule, ...] = ()
    recommendations: Recommendations = Recommendations()

    @model_validator(mode="after")
    def _unique(self) -> AnalyticsConfig:
        for what, ids in (
            ("segment", [s.id for s in self.segments]),
            ("rule", [r.id for r in self.reminders]),
        ):
            doubled = sorted({i for i in ids if ids.count(i) > 1})
            if doubled:
                raise ValueError(f"{what} ids must be unique: {doubled}")
        return self

    def segment(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)


def default_analytics_file() -> Path:
    return Path(__file__).resolve().parents[2] / "deploy" / "analytics.toml"


def load_analytics(path: Path | None = None) -> AnalyticsConfig:
    """``path``, else ``HUB_ANALYTICS_FILE``, else :func:`default_analytics_file`."""
    named = os.environ.get("HUB_ANALYTICS_FILE")
    path = path or (Path(named) if named else default_analytics_file())
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AnalyticsConfigError(f"cannot read {path}: {exc}") from exc
    try:
        return AnalyticsConfig.model_validate(document)
    except ValueError as exc:
        raise AnalyticsConfigError(f"invalid analytics file {path}: {exc}") from exc
