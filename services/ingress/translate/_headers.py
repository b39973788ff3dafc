"""The standard library's email policy, with each header value parsed once instead of per read.

``policy.default`` re-parses a header every time it is read, and its parser reads ``Content-Type``
dozens of times per message while splitting MIME parts (then ``get_body`` and ``iter_attachments``
read it again). That made parsing most of an email webhook's cost. The header objects are the same
immutable ones ``policy.default`` builds, so the events are the same.

Many values also recur from message to message (``Content-Type: text/plain; charset="UTF-8"``,
``Content-Transfer-Encoding``, ``MIME-Version``, the business's own address in ``To``), so short values
are parsed once per process, in a small least-recently-used memo; longer ones once per message.
"""

from __future__ import annotations

import functools
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any, ClassVar

#: Values up to ``SHARED_MAX_CHARS`` long are kept across messages, the ``SHARED_ENTRIES`` most recently
#: used. A parsed header takes up to some 650 bytes per character of its text (an address list; a
#: Content-Type some 15 KiB), so the memo stays under 8 MiB, and about 2 MiB with ordinary values.
SHARED_MAX_CHARS = 100
SHARED_ENTRIES = 128


class _Registry(HeaderRegistry):
    """The standard registry, keeping its header classes (the base class builds one per lookup)."""

    #: The header classes by registered name; unregistered names share the default class, so hostile
    #: header names cannot grow this.
    _classes: ClassVar[dict[str | None, type[BaseHeader]]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower() if name.lower() in self.registry else None
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


_SHARED = _Registry()


@functools.lru_cache(maxsize=SHARED_ENTRIES)
def _shared(name: str, value: str) -> BaseHeader:
    """A short header value, parsed once per process (while it is among the recently used)."""
    return _SHARED(name, value)


class _ParsedOnce(_Registry):
    """A header registry for one message: each (name, value) is parsed on its first read only.

    One instance per message, so its memo lives and dies with the message (no cross-message growth);
    short values come from the process's bounded memo.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str):
            return super().__call__(name, value)
        if len(value) <= SHARED_MAX_CHARS:
            return _shared(name, value)
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = super().__call__(name, value)
        return found


def message_policy() -> EmailPolicy[EmailMessage]:
    """``policy.default`` with a header memo of its own: use one per parsed message."""
    return policy.default.clone(header_factory=_ParsedOnce())
