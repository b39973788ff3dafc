"""Sales configuration as contracts: pipelines and their stages, and the staff who get tasks.

Both live in TOML files shipped with the deployment (``deploy/pipelines.toml``, ``deploy/staff.toml``)
and are validated when a deployable starts, so a typo stops the start instead of mis-routing work.
Parsing is pure (text in, model out); deployables read the files. Decimals stay exact: TOML floats are
parsed as :class:`~decimal.Decimal`, never as binary floats.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar

from pydantic import BaseModel, Field, StringConstraints, ValidationError, model_validator

from contracts.base import Contract
from contracts.sales import ConfigId, StaffId

_CHECKOUT = Path(__file__).resolve().parents[1]


class ConfigError(ValueError):
    """A sales configuration file that is unreadable or inconsistent."""


class Closed(StrEnum):
    WON = "won"
    LOST = "lost"


class Stage(Contract):
    """One stage of a pipeline. ``probability`` weighs the forecast; ``stale_after_days``: an open deal
    sitting in this stage longer than that is flagged stale."""

    id: ConfigId
    name: str = Field(min_length=1, max_length=100)
    probability: Decimal = Field(ge=0, le=1)
    closed: Closed | None = None
    stale_after_days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _closed_stages_are_certain(self) -> Self:
        if self.closed is Closed.WON and self.probability != 1:
            raise ValueError(f"stage {self.id}: a closed-won stage has probability 1")
        if self.closed is Closed.LOST and self.probability != 0:
            raise ValueError(f"stage {self.id}: a closed-lost stage has probability 0")
        if self.closed is not None and self.stale_after_days is not None:
            raise ValueError(f"stage {self.id}: closed stages are never stale")
        return self


class AutoClose(Contract):
    """The purchase rule: a purchase by the customer closes their oldest open deal of this pipeline as
    won when it is in the deal's currency and at least ``min_amount_ratio`` of the deal's amount."""

    on_purchase: bool = False
    min_amount_ratio: Decimal = Field(default=Decimal(0), ge=0, le=10)


def _unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} {item!r} is declared twice")
        seen.add(item)


class Pipeline(Contract):
    """A pipeline: its open stages in order, then exactly one closed-won and one closed-lost stage."""

    id: ConfigId
    name: str = Field(min_length=1, max_length=100)
    stages: tuple[Stage, ...] = Field(min_length=3)
    loss_reasons: tuple[ConfigId, ...] | None = None
    auto_close: AutoClose = AutoClose()

    @model_validator(mode="after")
    def _shape(self) -> Self:
        _unique((stage.id for stage in self.stages), f"pipeline {self.id}: stage")
        closed = [stage.closed for stage in self.stages if stage.closed is not None]
        if sorted(closed) != [Closed.LOST, Closed.WON]:
            raise ValueError(f"pipeline {self.id}: needs exactly one closed-won and one closed-lost stage")
        if not self.open_stages:
            raise ValueError(f"pipeline {self.id}: needs at least one open stage")
        return self

    @property
    def open_stages(self) -> tuple[Stage, ...]:
        return tuple(stage for stage in self.stages if stage.closed is None)

    def stage(self, stage_id: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.id == stage_id), None)

    def closed_stage(self, outcome: Closed) -> Stage:
        return next(stage for stage in self.stages if stage.closed is outcome)


class PipelinesConfig(Contract):
    """Every pipeline, and the loss reasons a lost deal may give (a pipeline may narrow them)."""

    version: Literal[1]
    loss_reasons: tuple[ConfigId, ...] = Field(min_length=1)
    pipelines: tuple[Pipeline, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique((pipeline.id for pipeline in self.pipelines), "pipeline")
        _unique(self.loss_reasons, "loss reason")
        for pipeline in self.pipelines:
            unknown = set(pipeline.loss_reasons or ()) - set(self.loss_reasons)
            if unknown:
                raise ValueError(f"pipeline {pipeline.id}: unknown loss reasons {sorted(unknown)}")
        return self

    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        return next((p for p in self.pipelines if p.id == pipeline_id), None)

    def reasons_for(self, pipeline: Pipeline) -> tuple[str, ...]:
        return pipeline.loss_reasons or self.loss_reasons


class DistributionPolicy(StrEnum):
    """How a task given to a team finds its assignee."""

    ROUND_ROBIN = "round_robin"  # the next available member after the last one the rotation chose
    LEAST_LOADED = "least_loaded"  # the available member with the fewest open tasks, under the cap


#: ``<provider>:<the channel's agent id>``: how an interaction names the person on our side
#: (``widget:agent-17``, ``till:cashier-3``).
ChannelAgentId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}:.{1,200}$")]


class Member(Contract):
    """A staff member; ``available = false`` (holiday, sick) keeps them out of distribution, not out of
    explicit assignment. ``channel_ids``: the ids channels know them by (``widget:agent-17``), so the
    staff report counts the chats they answered and the sales they rang up as theirs."""

    id: StaffId
    name: str | None = Field(default=None, max_length=200)
    available: bool = True
    channel_ids: tuple[ChannelAgentId, ...] = Field(default=(), max_length=100)


class Team(Contract):
    """A team and how its tasks are distributed; ``cap`` bounds each member's open tasks under a policy."""

    id: ConfigId
    name: str = Field(min_length=1, max_length=100)
    policy: DistributionPolicy = DistributionPolicy.ROUND_ROBIN
    cap: int | None = Field(default=None, ge=1, le=100_000)
    members: tuple[Member, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _capped_when_least_loaded(self) -> Self:
        if self.policy is DistributionPolicy.LEAST_LOADED and self.cap is None:
            raise ValueError(f"team {self.id}: least_loaded needs a per-person cap")
        return self


class StaffConfig(Contract):
    """The staff who own deals and get tasks, by team; a member belongs to one team."""

    version: Literal[1]
    teams: tuple[Team, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_team_each(self) -> Self:
        _unique((team.id for team in self.teams), "team")
        _unique((member.id for team in self.teams for member in team.members), "staff member")
        _unique(
            (cid for team in self.teams for member in team.members for cid in member.channel_ids),
            "channel id",
        )
        return self

    def team(self, team_id: str) -> Team | None:
        return next((team for team in self.teams if team.id == team_id), None)

    def team_of(self, staff_id: str) -> Team | None:
        return next((t for t in self.teams if any(m.id == staff_id for m in t.members)), None)

    def is_staff(self, staff_id: str) -> bool:
        return self.team_of(staff_id) is not None

    def staff_for_agent(self, agent: str) -> str | None:
        """The staff member an interaction's agent is: the member listing it in ``channel_ids``; else the
        member whose id it is, bare (a call's agent) or after its provider (``widget:alice``); else None."""
        for team in self.teams:
            for member in team.members:
                if agent in member.channel_ids:
                    return member.id
        for candidate in (agent, agent.partition(":")[2]):
            if candidate and self.is_staff(candidate):
                return candidate
        return None

    def teammates(self, team_id: str | None) -> tuple[str, ...]:
        """Member ids of ``team_id`` (empty for None or an unknown team)."""
        team = self.team(team_id) if team_id else None
        return tuple(member.id for member in team.members) if team else ()


M = TypeVar("M", bound=BaseModel)


def _parse(text: str, model: type[M], what: str) -> M:
    try:
        return model.model_validate(tomllib.loads(text, parse_float=Decimal))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"invalid {what}: {exc}") from exc


def parse_pipelines(text: str) -> PipelinesConfig:
    """The pipelines of a ``pipelines.toml`` text, or :class:`ConfigError`."""
    return _parse(text, PipelinesConfig, "pipelines configuration")


def parse_staff(text: str) -> StaffConfig:
    """The teams of a ``staff.toml`` text, or :class:`ConfigError`."""
    return _parse(text, StaffConfig, "staff configuration")


def default_pipelines_file() -> Path:
    """``deploy/pipelines.toml`` of the checkout this package runs from."""
    return _CHECKOUT / "deploy" / "pipelines.toml"


def default_staff_file() -> Path:
    """``deploy/staff.toml`` of the checkout this package runs from."""
    return _CHECKOUT / "deploy" / "staff.toml"
