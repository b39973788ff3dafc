"""``python -m services.ingress``: serve the webhook endpoints with uvicorn."""

from __future__ import annotations

import uvicorn

from plumbing.logging import configure_logging
from services.ingress.app import build_app
from services.ingress.settings import IngressSettings


def main() -> None:
    settings = IngressSettings()
    configure_logging("ingress", settings.log_level)
    uvicorn.run(build_app(settings), host=settings.ingress_host, port=settings.ingress_port, log_config=None)


if __name__ == "__main__":
    main()
