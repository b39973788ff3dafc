"""structlog set-up: JSON lines off a terminal, readable on one; ids bound, bodies never logged."""

from __future__ import annotations

import logging
import sys

import structlog


class QueryStringsDropped(logging.Filter):
    """uvicorn's access log writes each request line with its query string, which carries what callers
    look customers up by (``?email=``, ``?phone=``) and some providers' secrets (``?key=``): keep the path.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].partition("?")[0], *args[3:])
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Configure structlog and stdlib logging once per process, tagging every line with ``service``."""
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer, foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QueryStringsDropped) for f in access.filters):
        access.addFilter(QueryStringsDropped())
