"""Process-wide tuning every long-running deployable applies once it has started up."""

from __future__ import annotations

import gc


def tune_collector() -> None:
    """Make the cycle collector cheap for a process that allocates many short-lived objects per event or
    request, nearly all freed by reference counting.

    What start-up made (modules, settings, clients, schemas) is frozen out of every scan, and the youngest
    generation is collected every 20,000 allocations instead of 700. With the default thresholds a
    projection holding a batch of events and a cache of cards spent over half its CPU in the collector
    (parse 102 -> 36 µs per event, card parse 386 -> 142 µs, measured); garbage cycles still go, only less
    often. Call it after start-up, in the process that serves (each uvicorn worker calls it itself).
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
