"""What a campaign hands an executor and gets back: one run to train (:class:`RunSpec`), how to train it (a
command template or a Python callable: :data:`Trainer`) and what came out (:class:`Outcome`)."""

from __future__ import annotations

import json
import math
import shlex
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# Placeholders a training command template may use (``{fidelity.KEY}`` for any key of the run's fidelity).
PLACEHOLDERS = (
    "weights_file", "weights_json", "out", "run_id", "attempt", "index", "round", "workdir", "campaign", "project",
    "fidelity",
)
REASON_CHARS = 1000  # the longest failure reason kept (a tag value holds at most 1,000 characters)


@dataclass(frozen=True)
class RunSpec:
    """One run to train: a pending run of the campaign, and the folder this attempt writes into.

    ``index`` is the run's place in the campaign's sequence of proposed runs (0-based; e.g. to seed training),
    ``round`` the proposal round it came from, ``attempt`` how many times the runner has launched it (from 1).
    ``workdir`` holds ``weights.json`` (the mixture), ``metrics.json`` (``{out}``) and the logs.
    """

    project: str
    campaign: str
    run_id: int
    weights: dict[str, float]
    fidelity: dict[str, float]
    attempt: int
    index: int
    round: int
    workdir: str

    @property
    def weights_file(self) -> str:
        return str(Path(self.workdir) / "weights.json")

    @property
    def out(self) -> str:
        return str(Path(self.workdir) / "metrics.json")

    def in_folder(self, workdir: str) -> RunSpec:
        """The same run written into another folder (a retry of a Ray task gets its own)."""
        return RunSpec(self.project, self.campaign, self.run_id, dict(self.weights), dict(self.fidelity),
                       self.attempt, self.index, self.round, workdir)


@dataclass(frozen=True)
class Outcome:
    """What one attempt produced: ``completed`` with metrics (and the cost, if the trainer gave one) or ``failed``
    with ``reason`` (the tail of the command's stderr, the exception, or the executor's error)."""

    status: Literal["completed", "failed"]
    metrics: dict[str, float] = field(default_factory=dict)
    cost: float | None = None
    reason: str | None = None
    node: str | None = None  # where it ran, when the executor knows (a Ray node's address)


# A shell command template (``python train.py --weights {weights_file} --out {out}``) that writes the metrics
# JSON to ``{out}``, or a callable ``train(spec) -> {"metrics": {...}, "cost": c}`` (or just the metrics).
Trainer = str | Callable[[RunSpec], Mapping[str, Any]]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else repr(float(value))


class _FidelityView:
    """``{fidelity.tokens}`` in a template: the value of that key, as the shortest exact number."""

    def __init__(self, fidelity: Mapping[str, float], lenient: bool = False) -> None:
        self._fidelity = fidelity
        self._lenient = lenient

    def __getattr__(self, key: str) -> str:
        if key.startswith("_"):
            raise AttributeError(key)
        if key not in self._fidelity:
            if self._lenient:
                return "1"
            raise KeyError(f"fidelity.{key}: the run's fidelity {dict(self._fidelity)} has no {key!r}")
        return _number(self._fidelity[key])

    def __format__(self, spec: str) -> str:
        return json.dumps(dict(self._fidelity), sort_keys=True)


def render_command(template: str, spec: RunSpec, lenient: bool = False) -> str:
    """The shell command for ``spec``: placeholders filled in, paths and JSON shell-quoted.

    Raises ``ValueError`` naming an unknown placeholder, or a fidelity key the run lacks (``lenient`` fills any
    fidelity key with 1: a check of the template before any run exists)."""
    values: dict[str, Any] = {
        "weights_file": shlex.quote(spec.weights_file),
        "weights_json": shlex.quote(json.dumps(spec.weights, sort_keys=True)),
        "out": shlex.quote(spec.out),
        "run_id": spec.run_id,
        "attempt": spec.attempt,
        "index": spec.index,
        "round": spec.round,
        "workdir": shlex.quote(spec.workdir),
        "campaign": shlex.quote(spec.campaign),
        "project": shlex.quote(spec.project),
        "fidelity": _FidelityView(spec.fidelity, lenient),
    }
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name.split(".", 1)[0].split("[", 1)[0] not in values:
            raise ValueError(f"unknown placeholder {{{name}}} in the training command; known: "
                             + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + ", {fidelity.KEY}")
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise ValueError(str(exc.args[0]) if exc.args else str(exc)) from exc
    except (IndexError, AttributeError) as exc:
        raise ValueError(f"bad placeholder in the training command: {exc}") from exc


def outcome_from_json(payload: Any) -> Outcome:
    """Read what a trainer produced: ``{"metrics": {name: number}, "cost": number?}``, or a flat
    ``{name: number}`` of metrics (a ``cost`` key there is the cost). Raises ``ValueError`` if it is not that."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"expected a JSON object of metrics, got {type(payload).__name__}")
    nested = payload.get("metrics")
    raw: Mapping[str, Any] = nested if isinstance(nested, Mapping) else payload
    metrics: dict[str, float] = {}
    for name, value in raw.items():
        if name == "cost" and raw is payload:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value!r}: metrics must be finite numbers")
        metrics[str(name)] = float(value)
    if not metrics:
        raise ValueError("no metrics in the trainer's output")
    cost = payload.get("cost")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost)
                             or cost < 0):
        raise ValueError(f"cost {cost!r} must be a non-negative finite number")
    return Outcome("completed", metrics, None if cost is None else float(cost))


def tail(text: str, chars: int = REASON_CHARS) -> str:
    """The last ``chars`` characters of ``text``, cut at a line start where one is near."""
    text = text.strip()
    if len(text) <= chars:
        return text
    cut = text[-chars:]
    newline = cut.find("\n")
    return cut[newline + 1 :] if 0 <= newline < chars // 4 else cut
