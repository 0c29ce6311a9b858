"""The dashboard's history and fidelity-honest bests, in Chromium against a real ``mixopt serve --demo``.

A stored recommendation is shown again after a reload (Recommend view and History tab, the open item in the
URL); the best-so-far charts draw one line per fidelity; the projects list labels the fidelity of its "Best".
With ``MIXOPT_DOC_SHOTS=1`` the tests also write the screenshots under ``docs/screenshots/``.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
from playwright.sync_api import expect

from tests import test_dashboard as base
from tests.browser import wait_until
from tests.test_dashboard import Watched, in_browser, small_project
from tests.test_dashboard_research import doc_shot, plot_data

# The browser, the demo server and the watched page are test_dashboard's fixtures, shared by name.
browser = base.browser
demo_url = base.demo_url
http = base.http
watched = base.watched

SMALL = {"tokens": 1e9}
LARGE = {"tokens": 4e9}


def two_fidelity_project(http: httpx.Client, name: str) -> dict[str, list[dict[str, Any]]]:
    """12 completed runs at 1e9 tokens and 8 at 4e9 (lower losses: a fidelity-blind best would pick one)."""
    small_project(http, name)
    rng = np.random.default_rng(7)
    runs: dict[str, list[dict[str, Any]]] = {"small": [], "large": []}
    for label, fid, n, shift in (("small", SMALL, 12, 0.3), ("large", LARGE, 8, 0.0)):
        for i in range(n):
            w = rng.dirichlet(np.ones(3))
            loss = 3.0 + shift + float(((w - [0.5, 0.3, 0.2]) ** 2).sum())
            runs[label].append({"external_id": f"{label}{i}", "weights": dict(zip(["web", "code", "books"], w.tolist(),
                                strict=True)), "fidelity": fid, "metrics": {"loss": loss}, "cost": fid["tokens"] / 1e9})
    resp = http.post(f"/api/v1/projects/{name}/runs", json={"runs": runs["small"] + runs["large"]})
    assert resp.status_code == 201, resp.text
    return runs


def best(runs: list[dict[str, Any]]) -> float:
    return min(r["metrics"]["loss"] for r in runs)


@in_browser
def test_a_stored_recommendation_is_shown_after_reload(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    page = watched.page
    runs = two_fidelity_project(http, "hist")
    page.goto(demo_url + "/#/p/hist/optimize")
    expect(page.locator("#opt-fidelity")).to_have_value('{"tokens":1000000000}', timeout=30_000)  # most runs
    page.click("#btn-recommend")
    expect(page.locator("#rec-predicted")).to_be_visible(timeout=60_000)
    [stored] = http.get("/api/v1/projects/hist/recommendations").json()["recommendations"]
    # compared with the best run at its own fidelity, not with the lower losses of the larger runs
    expect(page.locator("#rec-compared")).to_have_attribute("data-kind", "observed")
    assert stored["comparison"]["value"] == best(runs["small"])
    delta = float(page.locator("#rec-delta").inner_text())
    assert delta == float(f"{stored['predicted'] - best(runs['small']):.3g}")

    posts = len(watched.api_calls("/recommendations", "POST"))
    page.reload()
    expect(page.locator("#rec-predicted")).to_be_visible()
    shown = float(page.locator("#rec-predicted").inner_text().split("±")[0])
    assert shown == float(f"{stored['predicted']:.5g}")
    assert len(watched.api_calls("/recommendations", "POST")) == posts  # read back, not asked again

    page.goto(demo_url + "/#/p/hist/history")
    row = page.locator(f'#history-table tr[data-item="r{stored["id"]}"]')
    expect(row).to_contain_text("regmix")
    row.click()
    expect(page.locator("#history-detail-card")).to_have_attribute("data-item", f"r{stored['id']}")
    assert f"item=r{stored['id']}" in page.url
    page.reload()  # the open item comes back from the URL
    expect(page.locator("#history-detail-card")).to_have_attribute("data-item", f"r{stored['id']}")
    expect(page.locator(f'#history-table tr.selected[data-item="r{stored["id"]}"]')).to_be_visible()
    expect(page.locator("#history-weights tbody tr")).to_have_count(3)
    expect(page.locator("#history-predicted")).to_contain_text(f"{stored['predicted']:.5g}"[:5])
    doc_shot(page, "history")
    page.select_option("#history-kind", "evaluations")
    expect(page.locator("#history-list")).to_contain_text("Nothing stored yet")
    assert "kind=evaluations" in page.url

    # an evaluation stored by another client: Compare shows it on opening, History lists it
    body = {"mixers": [{"mixer": "regmix", "config": {"n_estimators": 50}}], "folds": 3}
    evaluation = http.post("/api/v1/projects/hist/evaluations", json=body)
    assert evaluation.status_code == 200, evaluation.text
    page.goto(demo_url + "/#/p/hist/compare")
    expect(page.locator("#cmp-stored")).to_be_visible(timeout=30_000)
    spearman = evaluation.json()["results"][0]["spearman"]
    expect(page.locator('#cmp-table tr[data-mixer="regmix"] td').nth(1)).to_have_text(f"{spearman:.4g}")
    page.goto(demo_url + "/#/p/hist/history?kind=evaluations")
    row = page.locator(f'#history-table tr[data-item="e{evaluation.json()["id"]}"]')
    row.click()
    expect(page.locator('#history-scores tr[data-mixer="regmix"] td').nth(1)).to_have_text(f"{spearman:.4g}")
    expect(page.locator("#history-table tbody tr")).to_have_count(1)  # the recommendation is filtered out
    watched.assert_clean()


@in_browser
def test_best_so_far_draws_one_line_per_fidelity(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    page = watched.page
    runs = two_fidelity_project(http, "bsf")
    page.goto(demo_url + "/#/p/bsf/analysis")
    for sel in ("#plot-best-runs", "#plot-best-cost"):
        wait_until(page, f"document.querySelector('{sel}')?.data?.length >= 4")
        lines = {t["name"]: t for t in plot_data(page, sel) if t["name"].startswith("best at")}
        assert sorted(lines) == ["best at tokens=1.0e9", "best at tokens=4.0e9"]
        assert lines["best at tokens=1.0e9"]["y"][-1] == best(runs["small"])
        assert lines["best at tokens=4.0e9"]["y"][-1] == best(runs["large"])
        # each line only ever improves, at its own fidelity
        for t in lines.values():
            assert all(b <= a for a, b in zip(t["y"], t["y"][1:], strict=False))
    legend = page.locator("#plot-best-runs .legend").text_content() or ""
    assert "tokens=1.0e9" in legend and "tokens=4.0e9" in legend
    doc_shot(page, "best-so-far-per-fidelity", "#best-runs-card")
    watched.assert_clean()


@in_browser
def test_projects_list_labels_the_fidelity_of_its_best(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    page = watched.page
    runs = two_fidelity_project(http, "lbl")
    page.goto(demo_url + "/")
    cell = page.locator('#projects-table tr[data-project="lbl"] [data-col="best"]')
    # no run at the target (1e11 tokens): the best at the largest fidelity with runs, labelled
    expect(cell.locator(".best-fidelity")).to_contain_text("at tokens=4.0e9")
    expect(cell.locator(".best-fidelity")).to_contain_text("+1 other fidelity")
    assert float(cell.locator(".best-value").inner_text()) == float(f"{best(runs['large']):.5g}")
    doc_shot(page, "projects-best-fidelity", "#projects-table")
    at_target = {"external_id": "t0", "weights": {"web": 0.4, "code": 0.4, "books": 0.2}, "fidelity": {"tokens": 1e11},
                 "metrics": {"loss": 3.9}}
    assert http.post("/api/v1/projects/lbl/runs", json={"runs": [at_target]}).status_code == 201
    page.reload()
    expect(cell.locator(".best-fidelity")).to_contain_text("at tokens=1.0e11")
    assert float(cell.locator(".best-value").inner_text()) == 3.9  # worse than the smaller runs, but the target's
    watched.assert_clean()
