"""Run files for the import endpoint (``POST .../runs:import``): a big file is cut into parts of whole rows,
each sent as a file of its own, and a part's problems are told in the whole file's terms (``runs[i]``, lines).

Only the rows are found here (the ``csv`` module knows where a quoted line break is); reading the runs is the
server's work.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mixopt.errors import FieldError, MixoptError
from mixopt.types import JSON, ImportResult

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
SETTINGS_KEY = "project"  # the key of a JSON-lines export's first line
_RUN = re.compile(r"runs\[(\d+)\]")
_LINE = re.compile(r"\(line (\d+)\)")


def file_format(name: str, head: bytes = b"") -> str:
    """``jsonl`` for ``.jsonl``, ``.ndjson`` and ``.json`` files, ``csv`` for ``.csv``; a file named otherwise is
    JSON lines when its text (``head``: its first bytes) starts with ``{``, else CSV (as the server decides)."""
    lower = name.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


@dataclass(frozen=True)
class Part:
    """Rows ``first_run`` .. ``first_run + runs - 1`` of a file as a file of their own (a CSV part repeats the
    header, its first ``header_lines`` lines); they start on line ``first_line`` of the whole file."""

    data: bytes
    first_run: int
    runs: int
    first_line: int
    header_lines: int

    def file_line(self, line: int) -> int:
        """The whole file's line of the part's ``line``."""
        return line if line <= self.header_lines else self.first_line + line - self.header_lines - 1

    def in_file_terms(self, exc: MixoptError) -> MixoptError:
        """``exc`` (an answer to this part) with ``runs[i]`` and lines renumbered to the whole file."""

        def text(s: str) -> str:
            s = _RUN.sub(lambda m: f"runs[{int(m.group(1)) + self.first_run}]", s)
            return _LINE.sub(lambda m: f"(line {self.file_line(int(m.group(1)))})", s)

        errors = [
            FieldError(text(e.loc), e.msg, None if e.line is None else self.file_line(e.line)) for e in exc.errors
        ]
        detail = text(exc.detail)
        if self.first_run:
            detail += f" (in the part from line {self.first_line}; the parts before it were written)"
        return type(exc)(exc.status, exc.code, detail, errors, exc.problem)


def _lines(text: str) -> list[str]:
    """The lines of ``text`` with their ends, cut at ``\\n`` only (as the csv module counts them)."""
    pieces = text.split("\n")
    return [p + "\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


def _csv_rows(text: str) -> tuple[int, list[int]]:
    """``(lines of the header, line on which each data row starts)``; blank lines are no rows."""
    reader = csv.reader(io.StringIO(text))
    header_end = 0
    starts: list[int] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return header_end, starts
        if not row:
            continue
        if header_end:
            starts.append(start)
        else:
            header_end = reader.line_num


def _settings_line(line: str) -> bool:
    """Whether ``line`` is a JSON-lines export's first line, ``{"project": {...}, ...}``, rather than a run."""
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and isinstance(value.get(SETTINGS_KEY), dict)


def split(data: bytes, fmt: str, max_rows: int) -> list[Part]:
    """The file as parts of at most ``max_rows`` rows (one part, the bytes as they are, when it fits)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # the server names the problem; send the file as it is
        return [Part(data, 0, 0, 1, 0)]
    lines = _lines(text)
    if fmt == "jsonl":
        starts = [n for n, line in enumerate(lines, start=1) if line.strip()]
        # a JSON-lines export's first line (the project's settings) heads every part, as a CSV header does
        header = starts.pop(0) if starts and _settings_line(lines[starts[0] - 1]) else 0
    else:
        try:
            header, starts = _csv_rows(text)
        except csv.Error:  # the server names the problem; send the file as it is
            return [Part(data, 0, 0, 1, 0)]
    if len(starts) <= max_rows:  # sent as it is: the server's lines are the file's
        return [Part(data, 0, len(starts), header + 1, header)]
    head = "".join(lines[:header])
    parts = []
    for a in range(0, len(starts), max_rows):
        b = min(a + max_rows, len(starts))
        end = starts[b] - 1 if b < len(starts) else len(lines)
        body = head + "".join(lines[starts[a] - 1 : end])
        parts.append(Part(body.encode(), a, b - a, starts[a], header))
    return parts


def merge(answers: Sequence[JSON]) -> ImportResult:
    """One result of the answers to a file's parts."""
    last = answers[-1]
    fidelities: dict[tuple[tuple[str, float], ...], dict[str, float]] = {}
    for a in answers:
        for f in a.get("fidelities") or []:
            fidelities.setdefault(tuple(sorted(f.items())), {str(k): float(v) for k, v in f.items()})
    return ImportResult(
        project=str(last["project"]),
        rows=sum(int(a["rows"]) for a in answers),
        already_there=sum(int(a["already_there"]) for a in answers),
        stored=sum(int(a["stored"]) for a in answers),
        new=sum(int(a["new"]) for a in answers),
        written=sum(int(a["written"] if "written" in a else a["new"]) for a in answers),
        total_runs=int(last["total_runs"]),
        created=any(bool(a.get("created")) for a in answers),
        preview=bool(last.get("preview")),
        metrics=sorted({str(m) for a in answers for m in a.get("metrics") or []}),
        fidelities=list(fidelities.values()),
        ignored=sorted({str(c) for a in answers for c in a.get("ignored") or []}),
        raw=list(answers),
    )


def send(
    parts: Sequence[Part], post: Callable[[Part], JSON], progress: Callable[[int, int], None] | None
) -> ImportResult:
    """Post each part in turn (``post``), telling ``progress(rows done, rows)`` after each."""
    total = sum(p.runs for p in parts)
    answers: list[JSON] = []
    for part in parts:
        try:
            answers.append(post(part))
        except MixoptError as exc:
            if not exc.errors and not part.first_run:
                raise
            raise part.in_file_terms(exc) from exc
        if progress is not None:
            progress(part.first_run + part.runs, total)
    return merge(answers)
