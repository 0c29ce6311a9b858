"""The campaign runner end to end: a real ``mixopt serve``, a tiny training command, the local executor and a
real local Ray; results counted on the server (``mixopt_run_results`` in ``/metrics``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from bench.server import running_server
from mixopt.campaign import CampaignBusy, CampaignRunner, LocalExecutor, RunSpec, render_command
from mixopt.client import Client

TRAIN_SCRIPT = Path(__file__).parent / "data" / "train_tiny.py"
FAST = {"n_estimators": 30, "n_candidates": 2000, "top_k": 16, "cv_trees": 10}
REPO = Path(__file__).resolve().parents[1]


def train(*extra: str) -> str:
    return (f"{sys.executable} {TRAIN_SCRIPT} --weights {{weights_file}} --tokens {{fidelity.tokens}} --out {{out}} "
            f"--run-id {{run_id}} " + " ".join(extra))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("campaign-runner")) as url:
        yield url


def make_project(mx: Client, name: str) -> None:
    mx.create_project(name, ["web", "code", "books"], "loss", target_fidelity={"tokens": 1e9},
                      fidelities=[{"tokens": 1e6}])


def results_on_server(url: str) -> Counter[tuple[str, str]]:
    """``(status, stored|replay) -> count`` of results the server took, from its Prometheus counter."""
    text = httpx.get(f"{url}/metrics").text
    out: Counter[tuple[str, str]] = Counter()
    for outcome, status, value in re.findall(
        r'^mixopt_run_results_total\{outcome="(\w+)",status="(\w+)"\} ([0-9.e+]+)$', text, re.M
    ):
        out[(status, outcome)] = int(float(value))
    return out


def campaign_runs(mx: Client, project: str, campaign: str | None = None) -> list:  # type: ignore[type-arg]
    return [r for r in mx.list_runs(project) if campaign is None or r.tags.get("campaign") == campaign]


def cli(url: str, project: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", "campaign", "run", project, "--url", url, "--mixer", "regmix",
            "--config", json.dumps(FAST), "--heartbeat-every", "0.3", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}


# -- the server side: tags on proposals and heartbeats ----------------------------------------------


def test_proposals_and_heartbeats_carry_tags(client: TestClient) -> None:
    mx = Client(http=client)
    make_project(mx, "tags")
    made = mx.propose("tags", "regmix", n=2, config=FAST, tags={"campaign": "c1", "mixer": "not-this", "round": 1})
    assert [r.tags for r in made.runs] == [{"campaign": "c1", "mixer": "regmix", "round": 1}] * 2
    run = mx.heartbeat("tags", made.runs[0].id, {"log": "/tmp/run-1", "attempt": 1})
    assert run.status == "running" and run.tags == {"campaign": "c1", "mixer": "regmix", "round": 1,
                                                    "log": "/tmp/run-1", "attempt": 1}
    assert mx.heartbeat("tags", made.runs[0].id).tags == run.tags  # a bare heartbeat keeps them
    bad = client.post(f"/api/v1/projects/tags/runs/{made.runs[0].id}/heartbeat", json={"tags": {"log": [1]}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"].startswith("tags.log")
    assert mx.get_run("tags", made.runs[0].id).tags == run.tags  # nothing written
    bad = client.post("/api/v1/projects/tags/proposals", json={"mixer": "regmix", "tags": {"x": {"y": 1}}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"].startswith("tags.x")
    mx.post_result("tags", made.runs[0].id, {"loss": 1.0})
    finished = client.post(f"/api/v1/projects/tags/runs/{made.runs[0].id}/heartbeat", json={"tags": {"a": 1}})
    assert finished.status_code == 409 and "a" not in mx.get_run("tags", made.runs[0].id).tags


def test_command_template() -> None:
    spec = RunSpec("p", "c", 7, {"web": 0.5, "code": 0.5}, {"tokens": 1e9, "params": 2.5e6}, 2, 3, 1, "/w d")
    cmd = render_command("t --w {weights_file} --j {weights_json} --n {fidelity.tokens} --p {fidelity.params} "
                         "--o {out} --id {run_id} --a {attempt}", spec)
    assert cmd == ("t --w '/w d/weights.json' --j '{\"code\": 0.5, \"web\": 0.5}' --n 1000000000 --p 2500000 "
                   "--o '/w d/metrics.json' --id 7 --a 2")
    with pytest.raises(ValueError, match="unknown placeholder"):
        render_command("t {weights}", spec)
    with pytest.raises(ValueError, match="has no 'steps'"):
        render_command("t {fidelity.steps}", spec)


# -- the local executor ----------------------------------------------------------------------------


def test_local_campaign_three_rounds_with_failures(server: str, tmp_path: Path) -> None:
    mx = Client(server)
    make_project(mx, "local3")
    before = results_on_server(server)
    result = CampaignRunner(
        mx, "local3", train("--fail-every 4"), campaign="c", mixer="regmix", config=FAST, rounds=3, batch=4,
        executor=LocalExecutor(2), parallel=2, workdir=tmp_path, heartbeat_every=0.3,
    ).run()
    runs = campaign_runs(mx, "local3", "c")
    assert len(runs) == 12 and len({r.proposal_id for r in runs}) == 3
    failed = [r for r in runs if r.status == "failed"]
    assert {r.id for r in failed} == {r.id for r in runs if r.id % 4 == 0} and failed
    for r in failed:  # the stderr tail is on the run, the campaign went on
        assert "exit code 3" in r.tags["error"] and f"CUDA out of memory in run {r.id}" in r.tags["error"]
    assert all(r.status == "completed" and r.metrics["loss"] > 0 and r.cost == 1e6 for r in runs if r.id % 4)
    for r in runs:
        assert r.tags["executor"] == "local" and r.tags["attempt"] == 1 and r.tags["campaign"] == "c"
        assert f"training run {r.id}" in (Path(r.tags["log"]) / "stdout.log").read_text()
    assert result.posted == 12 and result.already_posted == 0 and result.rounds == 3
    assert result.recommendation is not None and result.recommendation.mixer == "regmix"
    after = results_on_server(server) - before
    assert after == Counter({("completed", "stored"): 12 - len(failed), ("failed", "stored"): len(failed)})


def test_sigint_leaves_the_campaign_resumable(server: str, tmp_path: Path) -> None:
    mx = Client(server)
    make_project(mx, "resume")
    trace, gate = tmp_path / "trace", tmp_path / "gate"
    args = ["--rounds", "2", "--batch", "3", "--parallel", "2", "--workdir", str(tmp_path / "w")]
    first = subprocess.Popen(cli(server, "resume", *args, "--train", train(f"--trace {trace} --gate {gate}")),
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (trace.exists() and len(trace.read_text().splitlines()) == 2):  # two runs training, one queued
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert "run the same command to resume" in err
    runs = campaign_runs(mx, "resume")
    assert len(runs) == 3 and {r.status for r in runs} <= {"pending", "running"}
    assert all(r.tags["holder"] == "" for r in runs)  # released: the next runner need not wait for them
    started = [int(line.split()[0]) for line in trace.read_text().splitlines()]

    gate.touch()
    second = subprocess.run(cli(server, "resume", *args, "--train", train(f"--trace {trace}")), env=env(),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    runs = campaign_runs(mx, "resume")
    assert len(runs) == 6 and len({r.proposal_id for r in runs}) == 2  # resumed round 1, then proposed round 2
    assert {r.status for r in runs} == {"completed"}
    assert {r.id: r.tags["attempt"] for r in runs} == {r.id: 2 if r.id in started else 1 for r in runs}
    trained = Counter(int(line.split()[0]) for line in trace.read_text().splitlines())
    assert trained == Counter({r.id: 2 if r.id in started else 1 for r in runs})
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["completed"] == 6 and summary["rounds"] == 2 and "recommendation" in summary


def test_two_runners_never_train_the_same_run(server: str, tmp_path: Path) -> None:
    mx = Client(server)
    make_project(mx, "two")
    trace = tmp_path / "trace"
    procs = [
        subprocess.Popen(cli(server, "two", "--campaign", name, "--rounds", "2", "--batch", "2", "--parallel", "2",
                             "--workdir", str(tmp_path / name), "--train", train(f"--trace {trace} --tag {name}")),
                         env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    runs = campaign_runs(mx, "two")
    assert len(runs) == 8 and {r.status for r in runs} == {"completed"}
    lines = [line.split() for line in trace.read_text().splitlines()]
    trained = Counter(int(run_id) for run_id, _ in lines)
    assert set(trained.values()) == {1} and set(trained) == {r.id for r in runs}  # every run trained exactly once
    by = {int(run_id): tag for run_id, tag in lines}
    assert all(by[r.id] == r.tags["campaign"] for r in runs)  # by the runner whose campaign proposed it

    # A second runner on a campaign whose runner is alive refuses, instead of training its runs.
    gate = tmp_path / "gate"
    done: dict[str, object] = {}

    def live_runner() -> None:
        done["result"] = CampaignRunner(
            Client(server), "two", train(f"--trace {trace} --tag a --gate {gate}"), campaign="a", mixer="regmix",
            config=FAST, rounds=3, batch=2, workdir=tmp_path / "a", heartbeat_every=0.3,
        ).run()

    live = threading.Thread(target=live_runner)
    live.start()
    try:
        deadline = time.monotonic() + 60
        while len(trace.read_text().splitlines()) < 9:  # the live runner's third round is training
            assert live.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(CampaignBusy, match="being run by"):
            CampaignRunner(mx, "two", train(), campaign="a", mixer="regmix", config=FAST, rounds=3, batch=2,
                           workdir=tmp_path / "intruder", heartbeat_every=0.3).run()
    finally:
        gate.touch()
        live.join(60)
    assert "result" in done
    assert not (tmp_path / "intruder").exists()
    a_runs = campaign_runs(mx, "two", "a")
    assert len(a_runs) == 6 and {r.status for r in a_runs} == {"completed"}


# -- a real local Ray ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local Ray of 2 CPUs on the loopback address (Ray's node address is read when ``ray`` is imported; on
    Linux it would be the machine's network address)."""
    saved = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray  # the mixopt[ray] extra; the dev extra installs it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    yield
    ray.shutdown()
    if saved is None:
        os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    else:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = saved


def _kill_first_try(folder: Path, run_id: int, stop: threading.Event) -> None:
    """SIGKILL the Ray worker of run ``run_id``'s first try once it is training."""
    while not stop.is_set():
        pids = sorted(folder.glob(f"run-{run_id}/attempt-1/try-*/worker.pid"))
        if pids and (pids[0].parent / "stdout.log").exists():
            os.kill(int(pids[0].read_text()), signal.SIGKILL)
            return
        time.sleep(0.02)


@pytest.mark.parametrize("retries", [1, 0])
def test_ray_worker_killed_mid_run(server: str, tmp_path: Path, ray_cluster: None, retries: int) -> None:
    from mixopt.campaign.ray_executor import RayExecutor

    mx = Client(server)
    project = f"ray{retries}"
    make_project(mx, project)
    before = results_on_server(server)
    # The campaign's first run (known once the first proposal is made) has its worker killed while it trains.
    stop = threading.Event()
    killer: threading.Thread | None = None

    def on_progress(state: object) -> None:
        nonlocal killer
        if killer is None:
            runs = campaign_runs(mx, project)
            if runs:
                killer = threading.Thread(target=_kill_first_try, args=(tmp_path / "c", runs[0].id, stop))
                killer.start()

    executor = RayExecutor(num_cpus=1, retries=retries)
    try:
        result = CampaignRunner(
            mx, project, train("--sleep 1"), campaign="c", mixer="regmix", config=FAST, rounds=2, batch=2,
            executor=executor, parallel=2, workdir=tmp_path, heartbeat_every=0.3, on_progress=on_progress,
        ).run()
    finally:
        stop.set()
        executor.close()
    assert killer is not None
    killer.join()
    runs = campaign_runs(mx, project, "c")
    first = runs[0]
    assert len(runs) == 4 and all(r.tags["executor"] == "ray" for r in runs)
    tries = list((tmp_path / "c" / f"run-{first.id}" / "attempt-1").glob("try-*"))
    if retries:  # Ray ran the task again: the run completed, from the second try
        assert len(tries) == 2 and {r.status for r in runs} == {"completed"}
        assert (tmp_path / "c" / f"run-{first.id}" / "attempt-1") == Path(first.tags["log"])
    else:  # no retry left: the run is failed with Ray's reason, the campaign went on
        assert len(tries) == 1 and first.status == "failed" and "ray" in first.tags["error"].lower()
        assert {r.status for r in runs[1:]} == {"completed"}
    assert all(r.tags["node"] == "127.0.0.1" for r in runs if r.status == "completed")
    after = results_on_server(server) - before  # one result per run, none posted twice
    assert sum(after.values()) == 4 and not any(outcome == "replay" for _, outcome in after)
    assert result.posted == 4 and result.already_posted == 0


# -- the dashboard ---------------------------------------------------------------------------------

from tests.test_dashboard import Watched, browser, in_browser, watched  # noqa: E402, F401 (fixtures)


@in_browser
def test_the_runs_view_filters_a_campaign(server: str, watched: Watched) -> None:  # noqa: F811 (the fixture)
    from playwright.sync_api import expect

    mx = Client(server)
    make_project(mx, "dash")
    made = mx.propose("dash", "regmix", n=2, config=FAST, tags={"campaign": "c1", "round": 1})
    mx.heartbeat("dash", made.runs[0].id, {"attempt": 2, "log": "/tmp/c1/run/attempt-2"})
    mx.add_runs("dash", [{"external_id": "old", "weights": {"web": 0.5, "code": 0.3, "books": 0.2},
                          "fidelity": {"tokens": 1e6}, "metrics": {"loss": 3.0}}])
    page = watched.page
    page.goto(server + "/#/p/dash/runs?campaign=c1")
    expect(page.locator("#filter-campaign")).to_have_value("c1")
    expect(page.locator("#filter-campaign option[value=c1]")).to_have_text("c1 (2 open, 0 done, 0 failed)")
    expect(page.locator("#runs-range")).to_have_text("1\u20132 of 2")
    expect(page.locator("#open-table")).to_contain_text("c1 (attempt 2)")
    page.select_option("#filter-campaign", "")
    expect(page.locator("#runs-range")).to_have_text("1\u20133 of 3")
    assert "campaign=" not in page.url
    page.select_option("#filter-campaign", "c1")
    expect(page.locator("#runs-range")).to_have_text("1\u20132 of 2")
    assert page.url.endswith("?campaign=c1")
    watched.assert_clean()
