"""What matters, answers to act on, and mixers compared with rigour: the dashboard in Chromium against a real
``mixopt serve --demo``.

The importance panel, the partial dependence and the parallel coordinates of Analysis; the weights table (Copy,
CSV, JSON) and the pending run created from a recommendation; proposal rows with role, prediction and sigma;
the compare view's fidelity chooser, spread over folds, coverage and winner sentence. With
``MIXOPT_DOC_SHOTS=1`` the tests write screenshots of the new views under ``docs/screenshots/``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright

from tests import test_dashboard as base
from tests.browser import wait_until
from tests.test_dashboard import CHROMIUM, CHROMIUM_ARGS, DEMO, Watched, all_runs, in_browser, objective
from tests.test_dashboard_research import doc_shot, plot_data

demo_url = base.demo_url
http = base.http
catalog = base.catalog
watched = base.watched

FAST = {"n_estimators": 100, "n_candidates": 5000, "top_k": 16, "cv_trees": 20}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium with software WebGL: plotly's parallel coordinates draw with WebGL."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--enable-unsafe-swiftshader"])
        yield b
        b.close()


def drawn_with_webgl(page: Any, timeout: float = 90.0) -> None:
    """Wait until the parallel coordinates are drawn. Headless Chromium's software WebGL may start well after the
    page (plotly then shows "WebGL is not supported"): the fidelity select redraws until it has."""
    deadline = time.monotonic() + timeout
    while page.evaluate("!!document.querySelector('#plot-parcoords .no-webgl')"):
        assert time.monotonic() < deadline, "the parallel coordinates never got a WebGL context"
        time.sleep(2)
        page.evaluate("document.querySelector('#insight-fidelity').dispatchEvent(new Event('change'))")
    wait_until(page, "document.querySelectorAll('#plot-parcoords canvas').length > 0")


def domains(http: httpx.Client) -> list[str]:
    return [d["name"] for d in http.get(f"/api/v1/projects/{DEMO}").json()["domains"]]


@in_browser
def test_importance_panel_and_partial_dependence(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    page = watched.page
    names = domains(http)
    page.goto(demo_url + f"/#/p/{DEMO}/analysis")
    expect(page.locator("#importance-card")).to_be_visible()
    # the catalog's first read on a fresh server imports every backend: the choices may come late
    expect(page.locator('#insight-mixer option[value="regmix"]')).to_have_count(1, timeout=60_000)
    page.select_option("#insight-mixer", "regmix")
    page.click("#btn-importance")
    page.wait_for_selector("#plot-importance svg.main-svg", timeout=120_000)
    bars = plot_data(page, "#plot-importance")[0]
    assert sorted(bars["customdata"]) == sorted(names)  # one bar per domain
    assert sum(bars["x"]) == pytest.approx(1.0)
    assert bars["x"] == sorted(bars["x"])  # drawn bottom-up: the most important on top
    expect(page.locator("#importance-method")).to_contain_text("SHAP")
    top = bars["customdata"][-1]
    answer = http.post(f"/api/v1/projects/{DEMO}/importance", json={"mixer": "regmix"}).json()
    assert top == answer["importance"][0]["domain"]

    # The partial dependence is on the most important domain first, then follows the select.
    wait_until(page, "document.querySelector('#plot-pd')?.data?.length > 0")
    first = plot_data(page, "#plot-pd")[-1]
    assert top in first["hovertemplate"]
    other = answer["importance"][3]["domain"]
    page.select_option("#pd-domain", other)
    wait_until(page, f"document.querySelector('#plot-pd').data.at(-1).hovertemplate.startsWith({json.dumps(other)})")
    second = plot_data(page, "#plot-pd")[-1]
    assert second["y"] != first["y"] and len(second["x"]) == len(second["y"]) >= 10
    assert f"idom={other}" in unquote(page.url) and "imix=regmix" in page.url

    # Parallel coordinates: the 8 most important domains and the objective as the colour.
    page.locator("#parcoords-card").scroll_into_view_if_needed()
    wait_until(page, "document.querySelector('#plot-parcoords')?.data?.[0]?.type === 'parcoords'")
    pc = plot_data(page, "#plot-parcoords")[0]
    assert len(pc["dimensions"]) == 9 and len(pc["line"]["color"]) == len(pc["dimensions"][0]["values"])
    drawn_with_webgl(page)
    doc_shot(page, "insight-importance", "#insight")

    # A reload keeps the mixer and the domain (the URL), and measures again.
    page.reload()
    wait_until(page, f"document.querySelector('#pd-domain')?.value === {json.dumps(other)}", timeout=120)
    expect(page.locator("#insight-mixer")).to_have_value("regmix")
    watched.assert_clean()


def _recommend(page: Any, demo_url: str) -> dict[str, Any]:
    page.goto(demo_url + f"/#/p/{DEMO}/optimize?mixer=regmix")
    page.wait_for_selector("#btn-recommend")
    with page.expect_response(lambda r: r.url.endswith("/recommendations") and r.request.method == "POST") as resp:
        page.click("#btn-recommend")
    rec = resp.value.json()
    page.wait_for_selector("#rec-weights-table", timeout=120_000)
    return dict(rec)


@in_browser
def test_weights_table_copies_and_downloads_the_recommendation(
    demo_url: str, http: httpx.Client, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo_url)
    page = context.new_page()
    try:
        rec = _recommend(page, demo_url)
        names = domains(http)
        expect(page.locator("#rec-weights-table tbody tr")).to_have_count(len(names))
        for button in ("#rec-copy", "#rec-csv", "#rec-json"):
            expect(page.locator(button)).to_be_visible()
        with page.expect_download() as dl:
            page.click("#rec-csv")
        assert dl.value.suggested_filename == f"{DEMO}-regmix-weights.csv"
        rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text())))
        assert rows[0] == ["domain", "weight"]
        assert {r[0] for r in rows[1:]} == set(names)
        assert {r[0]: float(r[1]) for r in rows[1:]} == rec["weights"]  # full precision, as the server sent it
        with page.expect_download() as dl:
            page.click("#rec-json")
        assert json.loads(Path(dl.value.path()).read_text()) == rec["weights"]
        page.click("#rec-copy")
        wait_until(page, "navigator.clipboard.readText().then((t) => t.length > 0)")
        assert json.loads(page.evaluate("navigator.clipboard.readText()")) == rec["weights"]
    finally:
        context.close()


@in_browser
def test_create_a_pending_run_at_the_recommended_mixture(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    page = watched.page
    before = {r["id"] for r in all_runs(http, DEMO)}
    rec = _recommend(page, demo_url)
    page.click("#rec-create-run")
    expect(page.locator("#rec-created")).to_contain_text("pending")
    new = [r for r in all_runs(http, DEMO) if r["id"] not in before]
    assert len(new) == 1
    run = new[0]
    assert run["status"] == "pending" and run["fidelity"] == rec["predicted_fidelity"]
    assert run["tags"] == {"mixer": "regmix", "source": "recommendation"}
    assert run["weights"] == pytest.approx(rec["weights"])
    doc_shot(page, "recommend-weights", "#rec-card")
    page.locator("#rec-created a").click()
    first = page.locator("#runs-table tbody tr").first
    expect(first).to_contain_text(str(run["id"]))
    expect(first).to_contain_text("pending")
    watched.assert_clean()


@in_browser
def test_proposal_rows_show_role_prediction_and_sigma(demo_url: str, watched: Watched) -> None:
    """The per-run diagnostics of the contract (role, predicted, std), rendered when present and "—" when not.
    The proposal is the server's; the test adds the per-run diagnostics to its answer for the page."""
    page = watched.page
    roles = ["exploit", "explore"]

    def answer(route: Route) -> None:
        resp = route.fetch()
        body = resp.json()
        body["diagnostics"]["runs"] = [
            {"run_id": r["id"], "role": roles[i], "predicted": 3.25 + i, "std": 0.125 if i == 0 else None}
            for i, r in enumerate(body["runs"])
        ]
        route.fulfill(response=resp, body=json.dumps(body))

    page.route("**/proposals", answer)
    page.goto(demo_url + f"/#/p/{DEMO}/optimize?mixer=regmix")
    page.fill("#opt-n", "2")
    page.click("#btn-propose")
    rows = page.locator("#proposal-table tbody tr")
    expect(rows).to_have_count(2, timeout=120_000)
    expect(rows.nth(0).locator(".prop-role")).to_have_text("exploit")
    expect(rows.nth(0).locator(".prop-predicted")).to_have_text("3.25")
    expect(rows.nth(0).locator(".prop-std")).to_have_text("0.125")
    expect(rows.nth(1).locator(".prop-role")).to_have_text("explore")
    expect(rows.nth(1).locator(".prop-std")).to_have_text("—")
    assert "n=2" in page.url
    watched.assert_clean()


@in_browser
def test_proposals_may_offer_the_mixer_the_projects_fidelities(
    demo_url: str, http: httpx.Client, watched: Watched
) -> None:
    page = watched.page
    name = "ladder"
    ladder = [{"params": 1e6, "tokens": 1e8}, {"params": 1e6, "tokens": 1e9}]
    r = http.post(
        "/api/v1/projects",
        json={
            "name": name,
            "domains": [{"name": "web", "tokens": 6e9}, {"name": "code", "tokens": 3e9}],
            "objective": {"metric": "loss", "direction": "minimize"},
            "target_fidelity": {"params": 1e8, "tokens": 1e10},
            "fidelities": ladder,
        },
    )
    assert r.status_code == 201, r.text
    page.goto(demo_url + f"/#/p/{name}/optimize")
    boxes = page.locator("#opt-fidelities input[type=checkbox]")
    expect(boxes).to_have_count(2)
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.select_option("#opt-mixer", "regmix")
    page.fill("#opt-n", "2")
    with page.expect_request(lambda q: q.url.endswith("/proposals") and q.method == "POST") as req:
        page.click("#btn-propose")
    body = req.value.post_data_json
    assert body["fidelities"] == ladder and "fidelity" not in body
    expect(page.locator("#proposal-table tbody tr")).to_have_count(2, timeout=60_000)
    assert "fids=" in page.url
    page.reload()  # the checked fidelities come back from the URL
    expect(page.locator("#opt-fidelities input[type=checkbox]:checked")).to_have_count(2)
    watched.assert_clean()


@in_browser
def test_compare_chooses_the_fidelity_and_states_the_winner_rule(
    demo_url: str, http: httpx.Client, catalog: list[dict[str, Any]], watched: Watched
) -> None:
    """The evaluation's contract fields (folds, spearman_se, coverage, fidelity, winner) as the server sends
    them, answered here for the page so the page's rendering is checked whatever mixers the server has."""
    page = watched.page
    offline = [m["name"] for m in catalog if m["kind"] == "offline"]
    runs = [r for r in all_runs(http, DEMO) if r["status"] == "completed"][:30]
    actual = [objective(r) for r in runs]
    fid = runs[0]["fidelity"]
    rule = (
        "the best mean Spearman over the 3 folds wins, unless the default mixer (regmix) is within one "
        "standard error (of the best's fold mean) of it: then the default keeps it"
    )
    sent: list[dict[str, Any]] = []

    def answer(route: Route) -> None:
        body = route.request.post_data_json
        sent.append(body)
        results = []
        for choice in body["mixers"]:
            i = 0 if choice["mixer"] == "regmix" else 1
            folds = [
                {"fold": k, "n": 10, "spearman": 0.8 + 0.05 * k - 0.1 * i, "mae": 0.1, "regret": 0.01} for k in range(3)
            ]
            results.append(
                {
                    "mixer": choice["mixer"],
                    "config": {},
                    "spearman": 0.85 - 0.1 * i,
                    "mae": 0.1,
                    "regret": 0.01,
                    "n_runs": len(runs),
                    "predicted": actual,
                    "actual": actual,
                    "run_ids": [r["id"] for r in runs],
                    "error": None,
                    "std": [0.1] * len(runs),
                    "coverage": {"68": 0.66, "95": None if i else 0.93},
                    "folds": folds,
                    "spearman_se": 0.03,
                    "mae_se": 0.01,
                }
            )
        out = {
            "results": results,
            "fidelity": fid,
            "fidelities": [fid],
            "winner": {"mixer": "regmix", "metric": "spearman", "rule": rule, "default_mixer": "regmix"},
        }
        route.fulfill(status=200, content_type="application/json", body=json.dumps(out))

    page.route("**/evaluations", answer)
    page.goto(demo_url + f"/#/p/{DEMO}/compare")
    chooser = page.locator("#cmp-fidelity option")
    expect(chooser).to_have_count(2)  # the server's default and the demo's one fidelity
    expect(chooser.nth(1)).to_contain_text("512 completed")
    page.select_option("#cmp-fidelity", index=1)
    chosen = ["regmix", *[m for m in offline if m != "regmix"][:1]]
    for name in offline:
        page.locator(f'#cmp-card .mixer-check[data-mixer="{name}"] input').set_checked(name in chosen)
    page.fill("#cmp-folds", "3")
    page.click("#btn-evaluate")
    expect(page.locator("#cmp-winner")).to_contain_text("Winner: regmix")
    expect(page.locator("#cmp-winner")).to_contain_text("within one standard error")
    expect(page.locator("#cmp-evaluated")).to_contain_text("tokens=1.0e9")
    assert sent[-1]["fidelity"] == fid and sorted(m["mixer"] for m in sent[-1]["mixers"]) == sorted(chosen)
    row = page.locator('#cmp-table tr[data-mixer="regmix"]')
    expect(row.locator(".cmp-se")).to_have_text("0.03")
    expect(row.locator(".cmp-cov68")).to_have_text("66%")
    expect(row.locator(".cmp-cov95")).to_have_text("93%")
    if len(chosen) > 1:
        expect(page.locator(f'#cmp-table tr[data-mixer="{chosen[1]}"] .cmp-cov95')).to_have_text("—")
    wait_until(page, "document.querySelector('#plot-folds')?.data?.length > 0")
    folds = next(t for t in plot_data(page, "#plot-folds") if t["name"] == "regmix folds")
    assert folds["y"] == pytest.approx([0.8, 0.85, 0.9])
    mean = next(t for t in plot_data(page, "#plot-folds") if t["name"] == "regmix mean")
    assert mean["error_y"]["array"] == [0.03]
    state = unquote(page.url)
    assert "fidelity=" in state and "folds=3" in state and "mixers=" in state
    doc_shot(page, "compare-rigour", "#cmp-results")
    page.reload()  # fidelity, folds and mixers come back from the URL
    expect(page.locator("#cmp-fidelity")).not_to_have_value("")
    expect(page.locator("#cmp-folds")).to_have_value("3")
    watched.assert_clean()
