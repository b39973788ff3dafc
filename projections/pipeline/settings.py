"""Settings of the pipeline deployable: the projection's batches, and the pipelines file the purchase
rule reads."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from contracts.sales_config import ConfigError, PipelinesConfig, default_pipelines_file, parse_pipelines
from plumbing.projection_main import ProjectionSettings


class PipelineProjectionSettings(ProjectionSettings):
    pipelines_file: Path | None = Field(default=None, description="default: deploy/pipelines.toml")

    def pipelines(self) -> PipelinesConfig:
        """The pipelines configuration; :class:`ConfigError` stops the start when it is missing or wrong."""
        path = self.pipelines_file or default_pipelines_file()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        return parse_pipelines(text)
