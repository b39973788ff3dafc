"""``python -m projections.customer_card``: follow the log into the customer card read model."""

from __future__ import annotations

from plumbing.projection_main import projection_process
from projections.customer_card.settings import CardProjectionSettings
from projections.customer_card.store import MIGRATIONS, CustomerCardProjection


def main() -> None:
    settings = CardProjectionSettings()  # pg_dsn comes from the environment
    projection_process("projections", settings, CustomerCardProjection(settings.card_cache_bytes), MIGRATIONS)


if __name__ == "__main__":
    main()
