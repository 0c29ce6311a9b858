"""The seam between the campaign runner and whatever runs the training: an :class:`Executor`.

An executor starts one attempt of a run (:meth:`~Executor.submit`), says without blocking whether it has
finished (:meth:`~Executor.poll`), and stops it (:meth:`~Executor.cancel`). The runner owns everything else:
proposals, leases and heartbeats, posting results exactly once, progress. So another backend (Slurm through
submitit, SkyPilot, Kubernetes jobs) needs only these few methods::

    class SlurmExecutor:
        name = "slurm"
        def submit(self, spec, trainer): return submitit_executor.submit(execute, spec, trainer)
        def poll(self, handle): return handle.result() if handle.done() else None
        def cancel(self, handle): handle.cancel()
        def location(self, spec): return spec.workdir     # where the run's logs are: its `log` tag
        def close(self): pass

``poll`` returns an :class:`~mixopt.campaign.spec.Outcome` once the attempt is over; a crash of the training
itself is an outcome (``failed`` with its reason), never an exception. Retries on lost machines are the
executor's business (Ray's ``max_retries``); the runner sees only the final outcome.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from mixopt.campaign.spec import Outcome, RunSpec, Trainer


@runtime_checkable
class Executor(Protocol):
    """Runs attempts of runs. ``name`` is stored in each run's ``executor`` tag."""

    name: str

    def submit(self, spec: RunSpec, trainer: Trainer) -> Any:
        """Start training ``spec`` (its ``workdir`` may not exist yet); return a handle for ``poll``/``cancel``."""
        ...

    def poll(self, handle: Any) -> Outcome | None:
        """The attempt's outcome once it is over, else ``None``; never blocks for long."""
        ...

    def cancel(self, handle: Any) -> None:
        """Stop the attempt (its run stays open on the server, for a later runner to train again)."""
        ...

    def location(self, spec: RunSpec) -> str:
        """Where this attempt's logs can be read (a path or URL): the run's ``log`` tag."""
        ...

    def close(self) -> None:
        """Release what the executor holds (not the cluster it was given)."""
        ...
