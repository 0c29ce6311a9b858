"""The web dashboard in a real browser: Playwright drives Debian's Chromium against a real ``mixopt serve``.

Every test checks that the page logged no console error and asked no host but the server. Screenshots go
to the test's tmp dir and to ``screenshots/`` at the repo root (gitignored) for people to look at.
Mixer-specific steps run only for mixers the server has registered (``GET /api/v1/mixers``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    FilePayload,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)

from tests.browser import wait_until
from tests.conftest import REPO
from tests.server import running_server

F = TypeVar("F", bound=Callable[..., None])


def in_browser(test: F) -> F:
    """Mark a test that drives Chromium (slow: a real server, a real browser)."""
    return pytest.mark.slow(pytest.mark.browser(test))


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = REPO / "screenshots"
DEMO = "regmix-demo"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


# -- servers ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("dash"), "--demo", env={"MIXOPT_AUTH": "off"}) as url:
        yield url


@pytest.fixture(scope="module")
def http(demo_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def catalog(http: httpx.Client) -> list[dict[str, Any]]:
    return list(http.get("/api/v1/mixers").json())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


# -- a page that records what went wrong ------------------------------------------------------------


@dataclass
class Watched:
    page: Page
    console_errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def assert_clean(self, allowed_status: tuple[int, ...] = ()) -> None:
        """No foreign host asked, no failed request or console error beyond the expected HTTP statuses."""
        assert not self.foreign, f"requests to non-local hosts: {self.foreign}"
        allowed = [f"status of {s}" for s in allowed_status]
        errors = [e for e in self.console_errors if not any(a in e for a in allowed)]
        assert not errors, f"console errors: {errors}"
        failed = [f for f in self.failed if not any(f.startswith(f"{s} ") for s in allowed_status)]
        assert not failed, f"failed requests: {failed}"

    def api_calls(self, path_part: str, method: str = "GET") -> list[Request]:
        return [r for r in self.requests if r.method == method and path_part in r.url]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    w = Watched(page)

    def guard(route: Route) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOCAL_HOSTS:
            w.foreign.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            w.console_errors.append(msg.text)

    context.route("**/*", guard)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: w.console_errors.append(f"uncaught: {exc}"))
    page.on("request", lambda r: w.requests.append(r))
    page.on("response", lambda r: w.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    # Requests the page aborts itself (a newer what-if prediction replaces an older one) are not failures.
    page.on(
        "requestfailed",
        lambda r: w.failed.append(f"failed {r.url} {r.failure}") if "ERR_ABORTED" not in (r.failure or "") else None,
    )
    yield w
    context.close()


def shot(page: Page, name: str, tmp_path: Path) -> None:
    """Full-page screenshot into the test's tmp dir, copied to screenshots/ for the team."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def plot_count(page: Page, selector: str) -> int:
    return int(page.locator(f"{selector}.js-plotly-plot svg.main-svg").count())


def objective(run: dict[str, Any]) -> float | None:
    return run["metrics"].get("metric/the_pile_pile_cc_val_loss")


def all_runs(http: httpx.Client, project: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token = None
    while True:
        page = http.get(f"/api/v1/projects/{project}/runs", params={"max_results": 1000, "page_token": token}).json()
        out += page["runs"]
        token = page["next_page_token"]
        if not token:
            return out


def upload(page: Page, name: str, mime: str, data: bytes) -> None:
    """Choose a file in the import form, as a person would."""
    page.set_input_files("#import-file", files=[FilePayload(name=name, mimeType=mime, buffer=data)])


def small_project(http: httpx.Client, name: str) -> None:
    body = {
        "name": name,
        "domains": [
            {"name": "web", "tokens": 6e9},
            {"name": "code", "tokens": 3e9},
            {"name": "books", "tokens": 1e9},
        ],
        "objective": {"metric": "loss", "direction": "minimize"},
        "target_fidelity": {"tokens": 1e11},
    }
    assert http.post("/api/v1/projects", json=body).status_code == 201


# -- tests ------------------------------------------------------------------------------------------


@in_browser
def test_projects_list_and_runs_table(demo_url: str, http: httpx.Client, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    runs = all_runs(http, DEMO)
    values = [v for r in runs if (v := objective(r)) is not None]
    page.goto(demo_url + "/")
    expect(page.locator("#projects-table")).to_contain_text(DEMO)
    shot(page, "01-projects", tmp_path)
    page.locator("#projects-table a", has_text=DEMO).click()

    expect(page.locator("#runs-table tbody tr")).to_have_count(50)
    expect(page.locator("#tile-runs .tile-value")).to_have_text(str(len(runs)))
    expect(page.locator("#runs-range")).to_have_text(f"1\u201350 of {len(runs)}")
    expect(page.locator("#tile-best .tile-value")).to_have_text(re.compile(r"^\d"))
    assert float(page.locator("#tile-best .tile-value").inner_text()) == pytest.approx(min(values), abs=1e-4)
    shot(page, "02-runs", tmp_path)

    # Sort by the objective: best first (minimize), then the other way round.
    page.locator('th[data-sort="objective"]').click()
    first = page.locator("#runs-table tbody tr").first.locator("td").nth(4)
    assert float(first.inner_text()) == pytest.approx(min(values), abs=1e-4)
    page.locator('th[data-sort="objective"]').click()
    assert float(first.inner_text()) == pytest.approx(max(values), abs=1e-4)

    page.locator("#page-next").click()
    expect(page.locator("#runs-range")).to_have_text(f"51\u2013100 of {len(runs)}")
    page.select_option("#filter-status", "failed")
    expect(page.locator("#runs-range")).to_have_text("0 runs")
    page.select_option("#filter-status", "")
    page.fill("#filter-search", "train-7")
    ids = page.locator("#runs-table tbody tr td:nth-child(2)").all_inner_texts()
    assert ids and all("train-7" in i for i in ids)
    assert len(ids) == sum("train-7" in (r["external_id"] or "") for r in runs)
    page.locator("#runs-table tbody tr").first.click()
    expect(page.locator(".run-detail")).to_contain_text("Weights")
    fid_options = page.locator("#filter-fidelity option").all_inner_texts()
    assert "params=1.0e6, tokens=1.0e9" in fid_options

    # Export links download every run.
    csv_href = page.locator("a.button", has_text="Export CSV").get_attribute("href")
    assert csv_href and csv_href.endswith("format=csv")
    exported = page.request.get(demo_url + csv_href).text().strip().splitlines()
    assert len(exported) == len(runs) + 1 and "weight.pile_cc" in exported[0]
    watched.assert_clean()


@in_browser
def test_new_runs_appear_without_reloading(demo_url: str, http: httpx.Client, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    small_project(http, "live")
    seed = [
        {
            "external_id": f"s{i}",
            "weights": {"web": 0.2 + 0.1 * i, "code": 0.5 - 0.1 * i, "books": 0.3},
            "metrics": {"loss": 3.0 - 0.1 * i},
            "cost": 1.0,
        }
        for i in range(3)
    ] + [{"external_id": "training", "weights": {"web": 0.6, "code": 0.2, "books": 0.2}}]
    created = http.post("/api/v1/projects/live/runs", json={"runs": seed}).json()["runs"]
    page.goto(demo_url + "/#/p/live/runs")
    expect(page.locator("#tile-runs .tile-value")).to_have_text("4")
    expect(page.locator("#open-table")).to_contain_text("training")
    expect(page.locator("#open-table .lease")).to_have_text(re.compile(r"\d+m \d+s left"))
    shot(page, "03-live-runs-with-lease", tmp_path)

    # A new run and the pending run's result arrive while the page is open: the next poll shows both.
    new = {
        "external_id": "late",
        "weights": {"web": 0.1, "code": 0.1, "books": 0.8},
        "metrics": {"loss": 2.0},
    }
    assert http.post("/api/v1/projects/live/runs", json={"runs": [new]}).status_code == 201
    done = http.post(f"/api/v1/projects/live/runs/{created[-1]['id']}/result", json={"metrics": {"loss": 1.5}})
    assert done.status_code == 200
    expect(page.locator("#tile-runs .tile-value")).to_have_text("5", timeout=15_000)
    expect(page.locator("#open-card")).to_have_count(0)
    expect(page.locator("#tile-best .tile-value")).to_have_text("1.5")
    expect(page.locator("#runs-table tr.fresh")).not_to_have_count(0)

    # Polls continue from a page token instead of re-reading every run.
    listing = [parse_qs(urlparse(r.url).query) for r in watched.api_calls("/projects/live/runs?")]
    unfiltered = [q for q in listing if "status" not in q]
    assert len(unfiltered) >= 3
    assert all("page_token" in q for q in unfiltered[2:]), unfiltered
    watched.assert_clean()


@in_browser
def test_analysis_plots(demo_url: str, http: httpx.Client, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    domains = [d["name"] for d in http.get(f"/api/v1/projects/{DEMO}").json()["domains"]]
    page.goto(demo_url + f"/#/p/{DEMO}/analysis")
    page.wait_for_selector("#plot-weights svg.main-svg")
    page.wait_for_selector("#plot-best-runs svg.main-svg")
    assert plot_count(page, "#plot-weights") >= 1 and plot_count(page, "#plot-best-runs") >= 1
    titles = page.locator("#plot-weights .annotation-text").all_text_contents()
    assert sorted(titles) == sorted(domains)
    points = page.evaluate("document.querySelector('#plot-weights').data[0].x.length")
    assert points == sum(objective(r) is not None for r in all_runs(http, DEMO) if r["status"] == "completed")
    expect(page.locator("#best-cost-card")).to_contain_text("No run has a cost yet")
    page.locator("#weights-card input[type=checkbox]").check()
    wait_until(page, "document.querySelector('#plot-weights').layout.xaxis.type === 'log'")
    page.locator("#weights-card input[type=checkbox]").uncheck()
    wait_until(page, "document.querySelector('#plot-weights').layout.xaxis.type === 'linear'")
    shot(page, "04-analysis", tmp_path)
    watched.assert_clean()


def _offline(catalog: list[dict[str, Any]]) -> list[dict[str, Any]]:
    offline = [m for m in catalog if m["kind"] == "offline"]
    return sorted(offline, key=lambda m: m["name"] != "regmix")  # regmix first when registered


@in_browser
def test_recommend_and_propose(
    demo_url: str, http: httpx.Client, catalog: list[dict[str, Any]], watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    offline = _offline(catalog)
    page.goto(demo_url + f"/#/p/{DEMO}/optimize")
    if not offline:
        expect(page.locator("#no-offline-mixer")).to_be_visible()
        expect(page.locator("#no-offline-mixer")).to_contain_text("No offline mixer is registered")
        shot(page, "05-optimize-no-mixer", tmp_path)
        watched.assert_clean()
        return
    mixer = offline[0]
    page.select_option("#opt-mixer", mixer["name"])
    options = page.locator("#opt-mixer option").all_inner_texts()
    assert options == [m["name"] for m in catalog if m["kind"] == "offline"]  # the catalog's order

    # The config form follows the schema: an out-of-range number is refused in the browser.
    props = mixer["config_schema"].get("properties", {})
    bounded = next((k for k, p in props.items() if p.get("type") in ("integer", "number") and "minimum" in p), None)
    if bounded is not None:
        page.locator("#ask-card details.schema-form > summary").click()
        page.fill(f"#opt-cfg-{bounded}", str(props[bounded]["minimum"] - 1))
        page.click("#btn-recommend")
        expect(page.locator(f'.field[data-field="{bounded}"] .field-error')).to_contain_text("must be")
        expect(page.locator("#opt-error")).to_contain_text("fix the config first")
        assert not watched.api_calls("/recommendations", "POST")
        page.locator("button.link", has_text="reset to defaults").click()

    page.click("#btn-recommend")
    expect(page.locator("#rec-predicted")).to_be_visible(timeout=60_000)
    sent = watched.api_calls("/recommendations", "POST")[-1].post_data_json
    assert sent["mixer"] == mixer["name"]
    expected = http.post(f"/api/v1/projects/{DEMO}/recommendations", json=sent).json()
    shown = float(page.locator("#rec-predicted").inner_text().split("±")[0])
    assert shown == pytest.approx(expected["predicted"], rel=1e-4)
    page.wait_for_selector("#plot-recommendation svg.main-svg")
    names = page.evaluate("document.querySelector('#plot-recommendation').data.map(t => t.name)")
    assert (
        names[0].startswith("recommended") and names[1] == "token-share prior" and names[2].startswith("compared run")
    )

    page.fill("#opt-n", "2")
    page.fill("#opt-seed", "0")  # the seed the recommendation used: the server reuses that fit
    page.click("#btn-propose")
    rows = page.locator("#proposal-table tbody tr")
    expect(rows.first).to_be_visible(timeout=60_000)
    proposed = [int(t.strip("#")) for t in rows.locator("td:first-child").all_inner_texts()]
    assert 1 <= len(proposed) <= 2
    pending = {r["id"] for r in http.get(f"/api/v1/projects/{DEMO}/runs", params={"status": "pending"}).json()["runs"]}
    assert set(proposed) <= pending
    page.wait_for_selector("#plot-proposal svg.main-svg")
    shot(page, "05-recommend-and-propose", tmp_path)

    page.locator(".tabs a", has_text="Runs").click()
    expect(page.locator("#open-table tbody tr")).to_have_count(len(pending))
    expect(page.locator("#open-table")).to_contain_text(mixer["name"])
    shot(page, "06-runs-with-proposals", tmp_path)
    watched.assert_clean()


@in_browser
def test_what_if_and_mixer_comparison(
    demo_url: str, catalog: list[dict[str, Any]], watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    offline = _offline(catalog)
    page.goto(demo_url + f"/#/p/{DEMO}/whatif")
    if not offline:
        expect(page.locator("#no-offline-mixer")).to_be_visible()
        page.goto(demo_url + f"/#/p/{DEMO}/compare")
        expect(page.locator("#no-offline-mixer")).to_be_visible()
        watched.assert_clean()
        return
    page.select_option("#wi-mixer", offline[0]["name"])
    readout = page.locator("#whatif-predicted")
    expect(readout).to_have_text(re.compile(r"^-?\d"), timeout=60_000)
    expect(page.locator(".whatif-status")).to_have_text("")
    before = readout.inner_text()
    boxes = page.locator("#whatif-sliders .weight-box")
    assert sum(float(v) for v in boxes.evaluate_all("els => els.map(e => e.value)")) == pytest.approx(1, abs=2e-3)

    page.locator("#whatif-sliders input[type=range]").first.fill("0.5")
    expect(readout).not_to_have_text(before, timeout=30_000)
    expect(page.locator("#whatif-ref")).to_contain_text("vs the starting mixture")
    values = [float(v) for v in boxes.evaluate_all("els => els.map(e => e.value)")]
    assert values[0] == pytest.approx(0.5) and sum(values) == pytest.approx(1, abs=2e-3)
    last = watched.api_calls("/predictions", "POST")[-1].post_data_json or {}
    mixture = last["mixtures"][0]
    assert sum(mixture.values()) == pytest.approx(1) and next(iter(mixture.values())) == pytest.approx(0.5)
    shot(page, "07-what-if", tmp_path)

    page.locator(".tabs a", has_text="Compare mixers").click()
    for box in page.locator("#cmp-card input[type=checkbox]").all():
        if box.get_attribute("value") != offline[0]["name"]:
            box.uncheck()
    page.fill("#cmp-folds", "3")
    page.click("#btn-evaluate")
    page.wait_for_selector("#plot-scores svg.main-svg", timeout=90_000)
    page.wait_for_selector("#plot-pva svg.main-svg")
    row = page.locator("#cmp-table tbody tr")
    expect(row).to_have_count(1)
    spearman = float(row.locator("td").nth(1).inner_text())
    assert -1 <= spearman <= 1
    if offline[0]["name"] == "regmix":
        assert spearman > 0.9  # RegMix ranks the RegMix runs well (DESIGN section 8)
    shot(page, "08-compare-mixers", tmp_path)
    watched.assert_clean()


@in_browser
def test_import_csv_and_jsonl(demo_url: str, http: httpx.Client, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    small_project(http, "imports")
    header = "external_id,status,cost,fidelity.tokens,weight.web,weight.code,weight.books,metric.loss\n"
    lines = [f'"r,{i}",completed,{1 + i},1e9,{0.1 * (i + 1)},{0.9 - 0.1 * (i + 1)},0.1,{3 - 0.2 * i}' for i in range(6)]
    page.goto(demo_url + "/#/p/imports/runs")
    expect(page.locator("#tile-runs .tile-value")).to_have_text("0")
    upload(page, "runs.csv", "text/csv", (header + "\n".join(lines) + "\n").encode())
    expect(page.locator("#import-out")).to_contain_text("6 runs, 1 metrics, 1 fidelity")
    page.click("#import-go")
    expect(page.locator("#import-out")).to_contain_text("Imported 6 runs: 6 new, 0 already stored")
    expect(page.locator("#tile-runs .tile-value")).to_have_text("6")
    stored = all_runs(http, "imports")
    assert sorted(r["external_id"] for r in stored) == [f"r,{i}" for i in range(6)]
    assert all(r["cost"] is not None for r in stored)

    bad = [
        json.dumps({"external_id": "j1", "weights": {"web": 0.5, "code": 0.5, "books": 0}, "metrics": {"loss": 2.5}}),
        "",
        json.dumps({"external_id": "j2", "weights": {"web": 0.5, "wiki": 0.5}, "metrics": {"loss": 2.4}}),
    ]
    upload(page, "bad.jsonl", "application/x-ndjson", "\n".join(bad).encode())
    page.click("#import-go")
    expect(page.locator("#import-out")).to_contain_text("Nothing was imported")
    problem = page.locator("#import-out .problem")
    expect(problem).to_contain_text("unknown domain 'wiki'")
    expect(problem).to_contain_text("runs[1].weights.wiki")
    expect(problem).to_contain_text("(line 3)")
    shot(page, "09-import-problem", tmp_path)
    assert len(all_runs(http, "imports")) == 6

    exported = page.request.get(demo_url + "/api/v1/projects/imports/export?format=jsonl").body()
    upload(page, "again.jsonl", "application/x-ndjson", exported)
    page.click("#import-go")
    expect(page.locator("#import-out")).to_contain_text("Imported 6 runs: 0 new, 6 already stored")

    page.locator(".tabs a", has_text="Analysis").click()
    page.wait_for_selector("#plot-best-cost svg.main-svg")
    watched.assert_clean(allowed_status=(422,))


@in_browser
def test_online_session_view(
    demo_url: str, http: httpx.Client, catalog: list[dict[str, Any]], watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    online = [m["name"] for m in catalog if m["kind"] == "online"]
    small_project(http, "online")
    if not online:
        page.goto(demo_url + "/#/p/online/sessions")
        expect(page.locator("#no-sessions")).to_contain_text("No online session")
        watched.assert_clean()
        return
    started = http.post("/api/v1/projects/online/sessions", json={"mixer": online[0], "total_steps": 400})
    assert started.status_code == 201, started.text
    sid, directive = started.json()["id"], started.json()["directive"]
    reports = 0
    while not directive.get("done") and reports < 40:
        w = directive["weights"]
        step = directive["until_step"]
        losses = {d: 2.0 + 1.0 / (1.0 + w[d] * step / 100) for d in ("web", "code", "books")}
        directive = http.post(f"/api/v1/sessions/{sid}/reports", json={"step": step, "losses": losses}).json()[
            "directive"
        ]
        reports += 1
    page.goto(demo_url + "/#/p/online/sessions")
    expect(page.locator("#sessions-table tbody tr")).to_have_count(1)
    page.wait_for_selector("#plot-session-weights svg.main-svg")
    page.wait_for_selector("#plot-session-losses svg.main-svg")
    traces = page.evaluate("document.querySelector('#plot-session-losses').data.map(t => t.name)")
    assert traces == ["web", "code", "books"]
    page.locator("#session-hide-probes").uncheck()  # probe steps are hidden by default
    wait_until(page, f"document.querySelector('#plot-session-losses').data[0].x.length === {reports}")
    shot(page, "10-online-session", tmp_path)
    watched.assert_clean()


@in_browser
def test_token_is_asked_once_when_auth_is_on(browser: Browser, tmp_path: Path) -> None:
    data = tmp_path / "auth"
    env = {**os.environ, "MIXOPT_DATA_DIR": str(data)}
    made = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    with running_server(data, "--demo", env={"MIXOPT_AUTH": "on"}) as url:
        context = browser.new_context(viewport={"width": 1100, "height": 700})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url + "/")
        form = page.locator("#token-form")
        expect(form).to_be_visible()
        page.fill("#token-input", "mxo_not-a-token")
        page.click("#token-form button[type=submit]")
        expect(form).to_contain_text("rejected")
        shot(page, "11-token-prompt", tmp_path)
        page.fill("#token-input", secret)
        page.click("#token-form button[type=submit]")
        expect(page.locator("#projects-table")).to_contain_text(DEMO)
        assert page.evaluate("sessionStorage.getItem('mixopt.token')") == secret
        page.reload()
        expect(page.locator("#projects-table")).to_contain_text(DEMO)
        expect(page.locator("#token-form")).to_have_count(0)
        context.close()
        assert all("status of 401" in e for e in errors), errors


@in_browser
def test_client_side_helpers(demo_url: str, watched: Watched) -> None:
    """The simplex sliders' arithmetic and the schema form, run in the page itself (files are read by the server:
    tests/test_import.py)."""
    page = watched.page
    page.goto(demo_url + "/")
    expect(page.locator("#projects-table")).to_be_visible()
    simplex = page.evaluate(
        """async () => {
        const s = await import('/static/js/simplex.js');
        const w = s.setWeight({a: 0.5, b: 0.3, c: 0.2}, 'a', 0.8);
        const z = s.setWeight({a: 1, b: 0, c: 0}, 'a', 0.4);
        return [w, z];
    }"""
    )
    assert simplex[0] == pytest.approx({"a": 0.8, "b": 0.12, "c": 0.08})  # others keep their 3:2 ratio
    assert simplex[1] == pytest.approx({"a": 0.4, "b": 0.3, "c": 0.3})  # all-zero rest is shared evenly
    form = page.evaluate(
        """async () => {
        const {schemaForm} = await import('/static/js/schemaform.js');
        const f = schemaForm({properties: {
            n: {type: 'integer', default: 5, minimum: 1},
            ema: {anyOf: [{type: 'number', maximum: 1}, {type: 'null'}], default: 0.1},
            model: {enum: ['a', 'b'], default: 'a'},
            mode: {anyOf: [{const: 'x'}, {const: 'y'}], default: 'x'},
            flag: {type: 'boolean', default: false},
            fid: {anyOf: [{type: 'object'}, {type: 'null'}], default: null},
        }}, 't');
        document.body.append(f.el);
        const untouched = f.value();
        document.getElementById('t-n').value = '0';
        const bad = f.value();
        f.fill({n: 7, ema: null, model: 'b', mode: 'y', flag: true, fid: {tokens: 1e9}});
        return [untouched, bad.errors, f.value()];
    }"""
    )
    assert form[0] == {"config": {}, "errors": []}
    assert form[1] == ["n: must be \u2265 1"]
    assert form[2] == {
        "config": {"n": 7, "ema": None, "model": "b", "mode": "y", "flag": True, "fid": {"tokens": 1e9}},
        "errors": [],
    }
    watched.assert_clean()


def test_static_files_are_local_and_confined(sqlite_store: Any, tmp_path: Path) -> None:
    """Every asset comes from this server (no CDN URL anywhere) and /static never leaves app/static."""
    from fastapi.testclient import TestClient

    from app import dashboard
    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(data_dir=tmp_path), store=sqlite_store, auth=False)
    with TestClient(app) as client:
        index = client.get("/")
        assert index.status_code == 200 and "default-src 'self'" in index.headers["content-security-policy"]
        srcs = re.findall(r'(?:src|href)="([^"]+)"', index.text)
        assert srcs and all(s.startswith(("/static/", "#")) for s in srcs), srcs
        js = client.get("/static/vendor/plotly.min.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert len(js.content) > 1_000_000
        assert client.get("/static/js/main.js").headers["content-type"].startswith("text/javascript")
        for bad in ("/static/../dashboard.py", "/static/%2e%2e/main.py", "/static/js/nope.js", "/static/js"):
            assert client.get(bad).status_code == 404, bad
    for path in dashboard.STATIC_DIR.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js", ".css"):
            text = path.read_text()
            assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), f"remote URL in {path.name}"
