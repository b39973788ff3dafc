"""The projections ``hub replay rebuild`` knows: how each is made, its migrations, what a rebuild ignores.

Followers that append events (the purchase rule, the recordings fetcher) or publish (the relay) are not
read models and are not rebuilt: a replay of them would act again.
"""

from __future__ import annotations

from plumbing.rebuild import RebuildSpec
from projections.customer_card import store as card
from projections.pipeline import store as pipeline

SPECS: dict[str, RebuildSpec] = {
    "customer_card": RebuildSpec(
        name="customer_card",
        make=card.CustomerCardProjection,
        migrations=card.MIGRATIONS,
        volatile={"customer_cards": ("updated_at",)},  # the time the row was written, not an event's
    ),
    "pipeline": RebuildSpec(
        name=pipeline.NAME,
        make=pipeline.PipelineProjection,
        migrations=pipeline.MIGRATIONS,
        not_owned=frozenset({"autoclose_candidates", "autoclose_merges"}),  # the purchase rule's state
    ),
}
