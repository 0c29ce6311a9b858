"""Fault injection for ``tests/test_faults.py``, loaded by a ``mixopt serve`` subprocess through PYTHONPATH.

With ``MIXOPT_TEST_FAULT`` set to ``before_commit`` or ``after_commit``, the first database transaction that
inserts runs writes the server's pid to ``MIXOPT_TEST_FAULT_MARKER`` at that moment and then blocks, so the test
can SIGKILL the server at a known point of the write: rows inserted but not committed, or committed but the
response not yet sent. Nothing here is imported by the service itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

FAULT = os.environ.get("MIXOPT_TEST_FAULT", "")
MARKER = os.environ.get("MIXOPT_TEST_FAULT_MARKER", "")


def _install() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import ORMExecuteState, Session

    def freeze() -> None:
        Path(MARKER).write_text(str(os.getpid()))
        while True:  # wait for the test's SIGKILL
            time.sleep(1)

    @event.listens_for(Session, "do_orm_execute")
    def note_run_insert(state: ORMExecuteState) -> None:
        table = getattr(state.statement, "table", None)
        if state.is_insert and getattr(table, "name", None) == "runs":
            state.session.info["inserted_runs"] = True

    @event.listens_for(Session, FAULT)
    def stop_here(session: Session, *args: Any) -> None:
        if session.info.get("inserted_runs"):
            freeze()


if FAULT in ("before_commit", "after_commit") and MARKER:
    _install()
