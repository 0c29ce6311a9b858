"""Configuration from ``MIXOPT_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.services.inputs import DEFAULT_MAX_TRAJECTORY_POINTS, MAX_TRAJECTORY_POINTS_CEILING


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIXOPT_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("mixopt")))
    database_url: str | None = None
    auth: Literal["on", "off", "auto"] = "auto"
    lease_seconds: float = Field(3600.0, gt=0, description="lease of a pending run between heartbeats")
    lease_sweep_seconds: float = Field(
        60.0,
        ge=0,
        description="how often the server writes 'abandoned' into runs whose lease ran out (reads already show "
        "them abandoned); 0 turns the background sweep off",
    )
    max_body_bytes: int = Field(128 * 1024 * 1024, gt=0)
    max_runs_per_request: int = Field(10_000, gt=0)
    max_trajectory_points: int = Field(
        DEFAULT_MAX_TRAJECTORY_POINTS,
        gt=0,
        le=MAX_TRAJECTORY_POINTS_CEILING,
        description="points one run's trajectory may have (ingest and /result); more is a 422",
    )
    fit_timeout_seconds: float = Field(
        300.0, gt=0, description="limit of one request's mixer work (fit and answer), from when the request starts"
    )
    blas_threads: int = Field(
        1,
        ge=1,
        description="BLAS threads of the server process: fits already run side by side in the worker pool, and BLAS "
        "threads spinning on a busy machine starve the event loop (/healthz)",
    )
    fits_per_project: int = Field(
        2, ge=1, description="worker-pool jobs one project may run at once; a request past it is a 429"
    )
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "info"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mixopt.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
