"""Peak resident memory of a process, as the kernel counts it (``VmHWM``), for the bench's memory figures."""

from __future__ import annotations

from pathlib import Path


def own_peak_rss_mb(pid: int) -> float | None:
    """Peak RSS of ``pid`` in MB, or None when the process is gone or unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
