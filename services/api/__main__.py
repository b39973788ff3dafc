"""``python -m services.api``: serve the read API with uvicorn."""

from __future__ import annotations

import uvicorn

from contracts.ids import require_id_key
from plumbing.logging import configure_logging
from plumbing.runtime import tune_collector
from services.api.app import build_app
from services.api.settings import ApiSettings


def main() -> None:
    settings = ApiSettings()  # pg_dsn comes from the environment
    require_id_key()  # without HUB_ID_KEY, fail the start rather than the first message
    configure_logging("api", settings.log_level)
    app = build_app(settings)
    tune_collector()
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_config=None)


if __name__ == "__main__":
    main()
