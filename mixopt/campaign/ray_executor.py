"""The ``ray`` executor: each attempt is a Ray task on an existing cluster (``pip install 'mixopt[ray]'``).

A task asks for ``num_cpus``/``num_gpus``; Ray runs it again on a lost worker or node up to ``retries`` times
(``max_retries``; a failing training command is an outcome, not retried). Each try writes into its own folder
under the attempt's ``workdir`` (``try-<id>``), so a retry never reads a half-written file of the try it
replaces, and the try's process id is in ``worker.pid`` there. The task only trains and returns the outcome:
the runner posts it, once, keyed by the run id. Ray is imported only here, when this executor is made.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixopt.campaign.local import execute
from mixopt.campaign.spec import Outcome, RunSpec, Trainer, tail


def ray_task(spec: RunSpec, trainer: Trainer) -> Outcome:
    """One try of an attempt, on a Ray worker: its own folder, then :func:`~mixopt.campaign.local.execute`."""
    import ray

    folder = Path(spec.workdir) / f"try-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "worker.pid").write_text(f"{os.getpid()}\n")
    outcome = execute(spec.in_folder(str(folder)), trainer)
    node = ray.util.get_node_ip_address()
    return Outcome(outcome.status, outcome.metrics, outcome.cost, outcome.reason, node)


@dataclass
class RayHandle:
    spec: RunSpec
    ref: Any  # ray.ObjectRef


class RayExecutor:
    """Ray tasks on the cluster at ``address`` (``auto``, ``ray://host:10001``, ``host:6379``; ``None``: the Ray
    already initialized in this process, else a new local one). The cluster's workers must be able to import
    ``mixopt`` and run the training command; ``workdir`` should be a path the workers can write."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        retries: int = 1,
        **init_kwargs: Any,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("the ray executor needs Ray: pip install 'mixopt[ray]'") from exc
        if retries < 0 or num_cpus < 0 or num_gpus < 0:
            raise ValueError("retries, num_cpus and num_gpus must be >= 0")
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, **init_kwargs)
            self._owns_ray = True
        self._task = ray.remote(ray_task).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=retries, retry_exceptions=False
        )
        self.retries = retries

    def submit(self, spec: RunSpec, trainer: Trainer) -> RayHandle:
        return RayHandle(spec, self._task.remote(spec, trainer))

    def poll(self, handle: RayHandle) -> Outcome | None:
        ready, _ = self._ray.wait([handle.ref], timeout=0)
        if not ready:
            return None
        try:
            outcome: Outcome = self._ray.get(handle.ref)
        except self._ray.exceptions.RayError as exc:  # a worker or node lost more often than retries allow
            return Outcome("failed", reason=tail(f"ray: {type(exc).__name__} after {self.retries} retries: {exc}"))
        return outcome

    def cancel(self, handle: RayHandle) -> None:
        self._ray.cancel(handle.ref, force=True)

    def location(self, spec: RunSpec) -> str:
        return spec.workdir

    def close(self) -> None:
        if self._owns_ray:
            self._ray.shutdown()
