"""Sampling profiles of running processes with py-spy, summarised as the frames that take the time.

py-spy reads another process's stacks from outside (no code change, little overhead), so the profile is
of the deployable exactly as it runs in the benchmark. Needs ptrace rights (root, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Profile:
    """Shares of samples: ``own`` = the frame was on top; ``inclusive`` = our code's frames anywhere."""

    process: str
    samples: int
    own: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]


class Sampler:
    """``py-spy record`` of one pid for a while, in the background."""

    def __init__(self, name: str, pid: int, seconds: float, out_dir: Path) -> None:
        self.name = name
        self.out = out_dir / f"profile-{name}.txt"
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        argv = [spy, "record", "--format", "raw", "--rate", "50", "--nonblocking", "--subprocesses"]
        argv += ["--duration", str(int(seconds)), "--pid", str(pid), "--output", str(self.out)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def result(self, top: int = 8) -> Profile | None:
        self.process.wait(timeout=120)
        if not self.out.exists():
            return None
        return summarise(self.name, self.out.read_text(), top)


def _ours(frame: str) -> bool:
    return any(part in frame for part in ("services/", "projections/", "plumbing/", "contracts/"))


def summarise(name: str, collapsed: str, top: int) -> Profile:
    """Collapsed stacks (``frame;frame;... count`` per line) → the top frames by share of samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, weight = line.rpartition(" ")
        if not stack or not weight.isdigit():
            continue
        frames = stack.split(";")
        total += int(weight)
        own[frames[-1]] += int(weight)
        for frame in set(frames):
            if _ours(frame):
                inclusive[frame] += int(weight)
    share = (lambda n: round(n / total, 3)) if total else (lambda n: 0.0)
    return Profile(
        name,
        total,
        [(frame, share(n)) for frame, n in own.most_common(top)],
        [(frame, share(n)) for frame, n in inclusive.most_common(top)],
    )
