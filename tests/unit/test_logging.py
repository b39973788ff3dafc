"""The logs never carry what a request's query string holds (a looked-up address, a provider's secret)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from plumbing.logging import QueryStringsDropped, configure_logging

pytestmark = pytest.mark.unit


def _uvicorn_access_record(path: str) -> logging.LogRecord:
    """A request line exactly as uvicorn's h11 protocol logs it."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50908", "GET", path, "1.1", 200),
        None,
    )


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes the process's logging: put it back for the tests after this one."""
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    handlers, level, filters = root.handlers[:], root.level, access.filters[:]
    yield
    root.handlers[:], access.filters[:] = handlers, filters
    root.setLevel(level)
    structlog.reset_defaults()


def test_the_access_log_keeps_the_path_of_a_lookup_and_drops_the_address_it_looked_up() -> None:
    record = _uvicorn_access_record("/v1/customers?email=ada.lovelace%40example.com&phone=%2B14155550123")

    assert QueryStringsDropped().filter(record)
    assert record.getMessage() == '127.0.0.1:50908 - "GET /v1/customers HTTP/1.1" 200'


def test_every_deployable_logs_through_the_filter(restored_logging: None) -> None:
    configure_logging("api")
    configure_logging("api")  # configured twice (tests, tools): filtered once

    filters = logging.getLogger("uvicorn.access").filters
    assert sum(isinstance(f, QueryStringsDropped) for f in filters) == 1
