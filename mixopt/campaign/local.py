"""The ``local`` executor: each attempt is a subprocess (or a thread, for a Python callable) on this machine.

:func:`execute` is the blocking body of one attempt, shared with the Ray executor's tasks: write the mixture to
``weights.json``, run the command with stdout and stderr into ``stdout.log`` / ``stderr.log``, read ``{out}``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mixopt.campaign.spec import Outcome, RunSpec, Trainer, outcome_from_json, render_command, tail

STOP_GRACE = 5.0  # seconds a cancelled command gets between SIGTERM and SIGKILL


def prepare(spec: RunSpec) -> None:
    """Create the attempt's folder and write its mixture to ``weights.json``."""
    Path(spec.workdir).mkdir(parents=True, exist_ok=True)
    Path(spec.weights_file).write_text(json.dumps(spec.weights, sort_keys=True, indent=1) + "\n")


def _die_with_parent() -> None:
    """In the child, before exec: its own process group (so a cancel reaches its children), and on Linux
    SIGKILL when the parent dies (a killed Ray worker or runner leaves no orphan training)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_command(spec: RunSpec, command: str) -> subprocess.Popen[bytes]:
    """Start the rendered command in a shell, logging into the attempt's folder."""
    prepare(spec)
    folder = Path(spec.workdir)
    with (folder / "stdout.log").open("wb") as out, (folder / "stderr.log").open("wb") as err:
        return subprocess.Popen(
            ["/bin/sh", "-c", command], stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=os.getcwd(),
            preexec_fn=_die_with_parent,
        )


def command_outcome(spec: RunSpec, returncode: int) -> Outcome:
    """The outcome of a finished command: its metrics file, or ``failed`` with the stderr tail."""
    err = Path(spec.workdir) / "stderr.log"
    stderr = err.read_text(errors="replace") if err.exists() else ""
    if returncode != 0:
        what = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        return Outcome("failed", reason=tail(f"{what}\n{stderr}"))
    try:
        return outcome_from_json(json.loads(Path(spec.out).read_text()))
    except FileNotFoundError:
        return Outcome("failed", reason=tail(f"the command exited 0 but wrote no {spec.out}\n{stderr}"))
    except ValueError as exc:  # JSONDecodeError is a ValueError
        return Outcome("failed", reason=tail(f"bad metrics in {spec.out}: {exc}\n{stderr}"))


def call_trainer(spec: RunSpec, trainer: Trainer) -> Outcome:
    """Run a Python callable trainer; an exception is a ``failed`` outcome with its traceback's tail."""
    assert not isinstance(trainer, str)
    prepare(spec)
    try:
        return outcome_from_json(dict(trainer(spec)))
    except Exception as exc:
        text = "".join(traceback.format_exception(exc))
        (Path(spec.workdir) / "stderr.log").write_text(text)
        return Outcome("failed", reason=tail(text))


def execute(spec: RunSpec, trainer: Trainer) -> Outcome:
    """Train ``spec`` to the end, here and now (the body of a Ray task)."""
    if not isinstance(trainer, str):
        return call_trainer(spec, trainer)
    try:
        command = render_command(trainer, spec)
    except ValueError as exc:
        return Outcome("failed", reason=tail(str(exc)))
    proc = start_command(spec, command)
    try:
        return command_outcome(spec, proc.wait())
    finally:
        if proc.poll() is None:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class LocalHandle:
    spec: RunSpec
    proc: subprocess.Popen[bytes] | None = None
    future: Future[Outcome] | None = None
    failed: Outcome | None = None  # refused before it started (e.g. a fidelity key the template needs is missing)


class LocalExecutor:
    """Subprocesses on this machine. The runner keeps at most ``parallel`` attempts in flight; a callable
    trainer runs in one of ``parallel`` threads (a thread cannot be stopped: ``cancel`` only forgets it)."""

    name = "local"

    def __init__(self, parallel: int = 1) -> None:
        if parallel < 1:
            raise ValueError("parallel must be >= 1")
        self.parallel = parallel
        self._threads: ThreadPoolExecutor | None = None

    def submit(self, spec: RunSpec, trainer: Trainer) -> LocalHandle:
        if not isinstance(trainer, str):
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.parallel, thread_name_prefix="mixopt-train")
            return LocalHandle(spec, future=self._threads.submit(call_trainer, spec, trainer))
        try:
            command = render_command(trainer, spec)
        except ValueError as exc:
            prepare(spec)
            return LocalHandle(spec, failed=Outcome("failed", reason=tail(str(exc))))
        return LocalHandle(spec, proc=start_command(spec, command))

    def poll(self, handle: LocalHandle) -> Outcome | None:
        if handle.failed is not None:
            return handle.failed
        if handle.future is not None:
            return handle.future.result() if handle.future.done() else None
        assert handle.proc is not None
        code = handle.proc.poll()
        return None if code is None else command_outcome(handle.spec, code)

    def cancel(self, handle: LocalHandle) -> None:
        if handle.proc is not None and handle.proc.poll() is None:
            stop(handle.proc)
        if handle.future is not None:
            handle.future.cancel()

    def location(self, spec: RunSpec) -> str:
        return spec.workdir

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None


