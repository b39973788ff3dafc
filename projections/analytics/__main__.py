"""``python -m projections.analytics``: follow the log into the analytics read model."""

from __future__ import annotations

from plumbing.projection_main import projection_process
from projections.analytics.settings import AnalyticsProjectionSettings
from projections.analytics.store import MIGRATIONS, AnalyticsProjection


def main() -> None:
    settings = AnalyticsProjectionSettings()  # pg_dsn comes from the environment
    projection_process("analytics", settings, AnalyticsProjection(), MIGRATIONS)


if __name__ == "__main__":
    main()
