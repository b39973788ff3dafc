"""Access levels of the hub's HTTP APIs: who is calling, what they may call, see and touch.

* :mod:`~plumbing.access.policy`: roles and policies loaded from a TOML file (permissions, row
  scopes, masked kinds of personal values, field masks, rate limits).
* :mod:`~plumbing.access.api_keys`, :mod:`~plumbing.access.jwt`: the two ways to authenticate.
* :mod:`~plumbing.access.control`: authenticate (failures limited per client address), rate-limit,
  authorise; framework-free.
* :mod:`~plumbing.access.fastapi`: :class:`GuardedRoute`, the one place routes are guarded.
* :mod:`~plumbing.access.kinds`, :mod:`~plumbing.access.scrub`, :mod:`~plumbing.access.response_masks`:
  masks by kind over the whole answer (marked fields, then the value-based safety net).
* :mod:`~plumbing.access.access_log`: the append-only record of audited reads.

Shared by every API (read API now; deals, audit and analytics later), so none is born unguarded.
"""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
