"""Where the local stack keeps its state, so every tool and test finds the same cluster."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path


@cache
def repo_root() -> Path:
    """The folder holding pyproject.toml, found from this file so the cwd does not matter."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise RuntimeError(f"no pyproject.toml above {here}; hub.stack must run from a source checkout")


def default_state_dir() -> Path:
    """`<repo root>/.state`: ignored by git, survives between sessions on the same machine."""
    return repo_root() / ".state"


def deploy_dir() -> Path:
    """`deploy/local/` in the checkout: the pom, config template and log4j2 config live there."""
    return repo_root() / "deploy" / "local"


@dataclass(frozen=True)
class StatePaths:
    """The layout under the state dir; nothing else on the machine is written to."""

    root: Path

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def blobs(self) -> Path:
        """The content-addressed evidence store (raw deliveries, attachments)."""
        return self.root / "blobs"

    @property
    def run(self) -> Path:
        """Pid files and logs of the project's own deployables."""
        return self.root / "run"
