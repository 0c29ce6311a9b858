"""Commands that ask the mixers: recommend, propose, evaluate; and ``embed``, which makes the OT mixer's sets."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli.common import Format, FormatOpt, TokenOpt, UrlOpt, connect, emit, err_console, fail, parse_kv, top
from app.services.embeddings import embed_texts  # text featurizing runs here; only storing is a use case
from mixopt.client import Client

MixerOpt = Annotated[str, typer.Option("--mixer", help="mixer backend, e.g. regmix")]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="mixer config as JSON")]
FidelityOpt = Annotated[list[str] | None, typer.Option("--fidelity", help="e.g. tokens=1e9 (repeat)")]


def _config(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail(f"--config must be a JSON object: {exc}")
    if not isinstance(value, dict):
        fail("--config must be a JSON object")
    return value


def _fidelity_text(fid: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(fid.items())) or "{}"


def recommend(
    project: str,
    mixer: MixerOpt = "regmix",
    config: ConfigOpt = None,
    fidelity: FidelityOpt = None,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """The mixer's recommended mixture, with its predicted objective."""
    cfg, fid = _config(config), parse_kv(fidelity, "--fidelity")
    with connect(url, token) as client:
        rec = client.recommend(project, mixer, cfg, fid).raw
    if fmt is Format.json:
        emit([rec], fmt)
        return
    rows = [{"domain": d, "weight": w} for d, w in sorted(rec["weights"].items(), key=lambda kv: -kv[1])]
    emit(
        rows,
        fmt,
        ["domain", "weight"],
        f"{mixer}: predicted {rec['predicted']:.6g}" + (f" +- {rec['std']:.3g}" if rec.get("std") is not None else "")
        + f" at {_fidelity_text(rec['predicted_fidelity'])} ({rec['transfer']})",
    )


def propose(
    project: str,
    mixer: MixerOpt = "regmix",
    n: Annotated[int, typer.Option("-n", help="how many runs")] = 8,
    config: ConfigOpt = None,
    fidelity: FidelityOpt = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a batch of pending runs chosen by the mixer."""
    cfg, fid = _config(config), parse_kv(fidelity, "--fidelity")
    with connect(url, token) as client:
        made = client.propose(project, mixer, n, cfg, fid, seed=seed)
    if fmt is Format.json:
        emit([r.raw for r in made.runs], fmt)
        return
    rows = [{"id": r.id, "status": r.status, "fidelity": r.fidelity, "weights": top(r.weights)} for r in made.runs]
    emit(rows, fmt, ["id", "status", "fidelity", "weights"],
         f"proposal {made.id} ({mixer}; fidelities from: {made.fidelity_source})")


def evaluate(
    project: str,
    mixer: Annotated[list[str] | None, typer.Option("--mixer", help="mixer to compare (repeat)")] = None,
    folds: Annotated[int, typer.Option(help="cross-validation folds")] = 5,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Compare mixers by k-fold cross-validation: Spearman, MAE and regret of the top pick."""
    names = mixer or ["regmix"]
    with connect(url, token) as client, Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                                 console=err_console, transient=True,
                                                 disable=not err_console.is_terminal) as bar:
        # one request scores every mixer side by side; the bar runs until its answer
        bar.add_task(f"{folds}-fold cross-validation of {', '.join(names)}", total=None)
        results = client.evaluate(project, names, folds)
    rows = [
        {"mixer": r.mixer, "spearman": r.spearman, "mae": r.mae, "regret": r.regret, "n_runs": r.n_runs,
         "error": _short_error(r.error) if r.error else None}
        for r in results
    ]
    emit(rows, fmt, ["mixer", "spearman", "mae", "regret", "n_runs", "error"], f"{folds}-fold cross-validation")


def _short_error(error: dict[str, Any]) -> str:
    detail = str(error["detail"])
    return f"{error['code']}: {detail if len(detail) <= 80 else detail[:77] + '...'}"


def embed(
    sets: Annotated[
        list[str], typer.Option("--set", help="NAME=FILE: one document per line (repeat; NAME target too)")
    ],
    out: Annotated[Path | None, typer.Option(help="write NAME.npy files into this folder")] = None,
    project: Annotated[str | None, typer.Option(help="also store the sets in this project")] = None,
    dim: Annotated[int, typer.Option(help="vector size")] = 384,
    seed: Annotated[int, typer.Option(help="random seed of the SVD")] = 0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Turn text into embedding sets for the OT mixer, offline (hashing + TF-IDF + SVD; no model download).

    The vectors are made here, in this process; ``--project`` stores them through the API."""
    texts: dict[str, list[str]] = {}
    for item in sets:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            fail(f"--set must be NAME=FILE with an existing file, got {item!r}")
        texts[name] = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
        if not texts[name]:
            fail(f"{path} has no non-empty lines")
    vectors = embed_texts(texts, dim=dim, seed=seed)
    rows = []
    client: Client | None
    with connect(url, token) if project else nullcontext(None) as client:
        for name, arr in vectors.items():
            if out is not None:
                npy = out / f"{name}.npy"  # a family name (dclm/web) is a subfolder
                npy.parent.mkdir(parents=True, exist_ok=True)
                np.save(npy, arr)
            if client is not None and project is not None:
                client.put_embeddings(project, name, arr)
            rows.append({"set": name, "vectors": arr.shape[0], "dim": arr.shape[1]})
    emit(rows, Format.table, ["set", "vectors", "dim"], "embedding sets")
