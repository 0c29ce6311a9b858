"""``mixopt campaign run``: close the loop from the command line (the runner is :mod:`mixopt.campaign`)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from app.cli.common import TokenOpt, UrlOpt, connect, err_console, fail, top
from app.cli.mixing import ConfigOpt, MixerOpt, _config
from mixopt.campaign import CampaignBusy, CampaignRunner, CampaignState
from mixopt.campaign.executor import Executor
from mixopt.campaign.local import LocalExecutor

INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT


class ExecutorKind(StrEnum):
    local = "local"
    ray = "ray"


def _view(state: CampaignState) -> Group:
    """The live display: rounds, runs queued/running/done/failed, best so far at each fidelity."""
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[bold]campaign[/bold] {state.campaign}",
        f"round {state.round}/{state.rounds}",
        f"queued {state.queued}",
        f"[cyan]running {state.running}[/cyan]",
        f"[green]done {state.done}[/green]",
        f"[red]failed {state.failed}[/red]",
    )
    best = Table(title="best so far", title_justify="left", box=None)
    best.add_column("fidelity")
    best.add_column("objective", justify="right")
    best.add_column("run", justify="right")
    for fid, (value, run_id) in sorted(state.best.items()):
        best.add_row(fid, f"{value:.6g}", str(run_id))
    return Group(head, best, Text(state.message, style="dim"))


def _fidelities(raw: str | None) -> list[dict[str, float]] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
            raise ValueError("not a list of objects")
        return [{str(k): float(v) for k, v in f.items()} for f in value]
    except (ValueError, TypeError) as exc:
        fail(f"--fidelities must be a JSON list of fidelities, e.g. '[{{\"tokens\": 1e8}}]': {exc}")


def run(
    project: str,
    train: Annotated[
        str,
        typer.Option("--train", help="training command template: {weights_file} {weights_json} {fidelity.KEY} "
                     "{out} {run_id} {attempt} {workdir}; it writes {\"metrics\": {...}, \"cost\": c} to {out}"),
    ],
    mixer: MixerOpt = "regmix",
    config: ConfigOpt = None,
    rounds: Annotated[int, typer.Option(min=0, help="proposal rounds")] = 3,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="runs per round")] = 8,
    campaign: Annotated[str | None, typer.Option(help="campaign name (the runs' campaign tag); default: the mixer")]
    = None,
    executor: Annotated[ExecutorKind, typer.Option(help="local subprocesses or Ray tasks")] = ExecutorKind.local,
    parallel: Annotated[int | None, typer.Option(min=1, help="runs at once (default: 1 local, the batch on Ray)")]
    = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (auto, ray://host:10001, host:6379)")]
    = None,
    num_cpus: Annotated[float, typer.Option(min=0, help="CPUs per run (Ray)")] = 1.0,
    num_gpus: Annotated[float, typer.Option(min=0, help="GPUs per run (Ray)")] = 0.0,
    retries: Annotated[int, typer.Option(min=0, help="retries of a run on a lost worker or node (Ray)")] = 1,
    fidelities: Annotated[str | None, typer.Option(help="JSON list of fidelities to propose at (default: the "
                                                   "project's ladder)")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the first proposal (later ones add the runs so far)")]
    = None,
    workdir: Annotated[Path, typer.Option(help="folder for the runs' files and logs")] = Path(".mixopt-campaigns"),
    heartbeat_every: Annotated[float, typer.Option(min=0.1, help="seconds between heartbeats")] = 30.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Run a campaign: rounds of proposals, each run trained by the executor, results posted, a recommendation.

    Ctrl-C stops the runs in flight and leaves the campaign resumable: run the same command again."""
    cfg, fids = _config(config), _fidelities(fidelities)
    runner_executor: Executor
    if executor is ExecutorKind.ray:
        from mixopt.campaign.ray_executor import RayExecutor  # Ray only when asked for (the mixopt[ray] extra)

        try:
            runner_executor = RayExecutor(address, num_cpus=num_cpus, num_gpus=num_gpus, retries=retries)
        except RuntimeError as exc:
            fail(str(exc))
        width = parallel or batch
    else:
        width = parallel or 1
        runner_executor = LocalExecutor(width)
    try:
        with connect(url, token) as client, Live(console=err_console, refresh_per_second=8) as live:
            runner = CampaignRunner(
                client, project, train, campaign=campaign, mixer=mixer, config=cfg, rounds=rounds, batch=batch,
                parallel=width, executor=runner_executor, fidelities=fids, seed=seed, workdir=workdir,
                heartbeat_every=heartbeat_every, on_progress=lambda state: live.update(_view(state)),
            )
            try:
                result = runner.run()
            except CampaignBusy as exc:
                fail(str(exc))
            except ValueError as exc:  # a bad training command template
                fail(str(exc))
    except KeyboardInterrupt:
        err_console.print("interrupted: run the same command to resume the campaign")
        raise typer.Exit(INTERRUPTED) from None
    finally:
        runner_executor.close()
    state = runner.state
    err_console.print()  # the live display's last frame ends without a newline off a terminal
    err_console.print(
        f"campaign {state.campaign}: {result.rounds} round(s), {state.done} completed, {state.failed} failed; "
        f"{result.posted} result(s) posted by this runner"
    )
    if result.interrupted:
        err_console.print("interrupted: run the same command to resume the campaign")
        raise typer.Exit(INTERRUPTED)
    summary: dict[str, Any] = {"campaign": state.campaign, "rounds": result.rounds, "completed": state.done,
                               "failed": state.failed, "posted": result.posted}
    if result.recommendation is not None:
        rec = result.recommendation
        err_console.print(f"recommendation ({rec.mixer}): {top(rec.weights, 5)}; predicted {rec.predicted:.6g}")
        summary["recommendation"] = {"weights": rec.weights, "predicted": rec.predicted, "std": rec.std}
    elif result.recommendation_error:
        err_console.print(f"no recommendation: {result.recommendation_error}")
    typer.echo(json.dumps(summary))
