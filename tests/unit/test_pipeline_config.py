"""Pipelines and staff as configuration: the shipped files, exact decimals; bad files refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.sales_config import (
    Closed,
    ConfigError,
    DistributionPolicy,
    default_pipelines_file,
    default_staff_file,
    parse_pipelines,
    parse_staff,
)

pytestmark = pytest.mark.unit

STAGES = """
stages = [
  { id = "lead", name = "Lead", probability = 0.1, stale_after_days = 7 },
  { id = "won", name = "Won", probability = 1, closed = "won" },
  { id = "lost", name = "Lost", probability = 0, closed = "lost" },
]
"""


def _pipelines(stages: str = STAGES, extra: str = "") -> str:
    return f'version = 1\nloss_reasons = ["price"]\n[[pipelines]]\nid = "p"\nname = "P"\n{extra}\n{stages}'


def test_the_shipped_pipelines_have_ordered_stages_with_exact_probabilities() -> None:
    config = parse_pipelines(default_pipelines_file().read_text())

    assert len(config.pipelines) >= 2
    retail = config.pipeline("retail")
    assert retail is not None
    assert [s.id for s in retail.open_stages] == ["lead", "qualified", "offer"]
    assert [s.probability for s in retail.open_stages] == [Decimal("0.10"), Decimal("0.30"), Decimal("0.60")]
    assert retail.closed_stage(Closed.WON).id == "won"
    assert retail.auto_close.on_purchase and retail.auto_close.min_amount_ratio == Decimal("0.5")
    assert "price" in config.loss_reasons


def test_the_shipped_staff_have_teams_with_policies_and_caps() -> None:
    staff = parse_staff(default_staff_file().read_text())

    south = staff.team("south")
    assert south is not None and south.policy is DistributionPolicy.LEAST_LOADED and south.cap == 25
    assert staff.teammates("north") == ("alice", "bob", "carol")
    assert staff.team_of("erin") == south
    assert staff.is_staff("alice") and not staff.is_staff("mallory")


def test_toml_floats_become_exact_decimals_never_binary_floats() -> None:
    config = parse_pipelines(_pipelines())

    assert config.pipelines[0].stages[0].probability == Decimal("0.1")
    assert str(config.pipelines[0].stages[0].probability) == "0.1"


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (STAGES.replace(', closed = "won"', ""), "exactly one closed-won and one closed-lost"),
        (STAGES.replace('"won", name', '"lead", name'), "stage 'lead' is declared twice"),
        (STAGES.replace("probability = 1,", "probability = 0.9,"), "closed-won stage has probability 1"),
        (STAGES.replace("probability = 0.1", "probability = 1.5"), "less than or equal to 1"),
        (
            STAGES.replace(
                'probability = 0, closed = "lost"', 'probability = 0, closed = "lost", stale_after_days = 3'
            ),
            "closed stages are never stale",
        ),
    ],
)
def test_a_pipeline_without_a_sound_stage_list_is_refused(stages: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_pipelines(_pipelines(stages))


def test_a_pipeline_may_only_narrow_the_loss_reasons() -> None:
    with pytest.raises(ConfigError, match=r"unknown loss reasons \['weather'\]"):
        parse_pipelines(_pipelines(extra='loss_reasons = ["weather"]'))


def test_unreadable_toml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid pipelines configuration"):
        parse_pipelines("version = [")


def test_a_least_loaded_team_needs_a_cap_and_a_member_belongs_to_one_team() -> None:
    with pytest.raises(ConfigError, match="least_loaded needs a per-person cap"):
        parse_staff(
            'version = 1\n[[teams]]\nid = "t"\nname = "T"\npolicy = "least_loaded"\nmembers = [{ id = "a" }]'
        )
    with pytest.raises(ConfigError, match="staff member 'a' is declared twice"):
        parse_staff(
            'version = 1\n[[teams]]\nid = "t"\nname = "T"\nmembers = [{ id = "a" }]\n'
            '[[teams]]\nid = "u"\nname = "U"\nmembers = [{ id = "a" }]'
        )
