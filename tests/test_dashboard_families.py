"""The dashboard on a project whose domain names carry a family prefix (``dclm/web/high``): the runs view, a run's
detail and the analysis load without a console error or a failed request."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests import test_dashboard as dashboard
from tests.test_dashboard import Watched, in_browser

# the dashboard tests' fixtures: the demo server, an HTTP client to it, Chromium, a page that records what failed
browser = dashboard.browser
demo_url = dashboard.demo_url
http = dashboard.http
watched = dashboard.watched

FAMILY_DOMAINS = ["dclm/web/high", "dclm/web/low", "code/python", "books"]


def _family_project(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    body = {
        "name": name,
        "domains": [{"name": d, "tokens": 1e9 * (i + 1)} for i, d in enumerate(FAMILY_DOMAINS)],
        "objective": {"metric": "loss", "direction": "minimize"},
    }
    assert http.post("/api/v1/projects", json=body).status_code == 201
    runs = []
    for i in range(8):
        a = 0.1 + 0.05 * i
        weights = {"dclm/web/high": a, "dclm/web/low": 0.2, "code/python": 0.6 - a, "books": 0.2}
        runs.append({"external_id": f"f{i}", "weights": weights, "fidelity": {"tokens": 1e9},
                     "metrics": {"loss": 3.0 + (a - 0.3) ** 2}})
    made = http.post(f"/api/v1/projects/{name}/runs", json={"runs": runs})
    assert made.status_code == 201, made.text
    return list(made.json()["runs"])


@in_browser
def test_family_names_in_the_runs_view_and_analysis(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    _family_project(http, "families")
    page = watched.page
    page.goto(demo_url + "/#/p/families/runs")
    expect(page.locator("#runs-table tbody tr")).to_have_count(8)
    page.locator("#runs-table tbody tr").first.click()
    detail = page.locator(".run-detail")
    expect(detail).to_contain_text("Weights")
    expect(detail).to_contain_text("high")  # the family's domain is shown (its label may drop the shared prefix)
    page.locator(".tabs a", has_text="Analysis").click()
    for plot in ("#plot-weights", "#plot-map", "#plot-best-runs"):  # one panel per family domain, the map, the curve
        page.wait_for_selector(f"{plot} svg.main-svg")
    watched.assert_clean()
