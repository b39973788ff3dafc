"""``python -m services.api``: serve the read API with uvicorn."""

from __future__ import annotations

import uvicorn

from plumbing.logging import configure_logging
from services.api.app import build_app
from services.api.settings import ApiSettings


def main() -> None:
    settings = ApiSettings()  # pg_dsn comes from the environment
    configure_logging("api", settings.log_level)
    uvicorn.run(build_app(settings), host=settings.api_host, port=settings.api_port, log_config=None)


if __name__ == "__main__":
    main()
