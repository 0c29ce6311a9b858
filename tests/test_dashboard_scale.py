"""The dashboard at scale and on every screen size, in Chromium against a real ``mixopt serve --demo``.

- Analysis on a 10,000-run, 39-domain project with two fidelities: interactive and no long freeze (PerformanceObserver
  ``longtask``; bounds generous for CI, ``bench/service/dashboard_scale.py`` reports the real numbers);
- charts follow resizes (1440 -> 1000 px) without collapsing or overlapping the next card;
- at 390 px no view is wider than the screen, with the run comparison and the mixer comparison open;
- plotly's toolbar has no cloud button and covers no legend or subplot title;
- every view's state round-trips through a reload and through a copied URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bench.service.dashboard_scale import LONGTASK_SCRIPT, make_project, measure_analysis
from tests import test_dashboard as base
from tests.browser import wait_until
from tests.test_dashboard import DEMO, in_browser
from tests.test_dashboard_research import _aioli_session, doc_shot

browser = base.browser
catalog = base.catalog
demo_url = base.demo_url
http = base.http
watched = base.watched

BIG = "scale10k"
TABS = ("runs", "analysis", "compare", "optimize", "whatif", "sessions")

# Bounding boxes in page coordinates: [left, top, right, bottom].
FIRST_TWO = "els => els.slice(0, 2).map(e => e.dataset.run)"
BOXES = "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"


def overlap(a: list[float], b: list[float]) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5


@pytest.fixture(scope="module")
def big(demo_url: str) -> Iterator[str]:
    with httpx.Client(base_url=demo_url, timeout=600) as client:
        make_project(client, BIG, 10_000)
    yield BIG


@pytest.fixture
def page_at(browser: Browser) -> Iterator[Any]:
    """A page factory at a given viewport width, with console errors recorded (asserted empty at the end)."""
    contexts = []
    errors: list[str] = []

    def make(width: int, height: int = 900) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for c in contexts:
        c.close()
    assert not errors, errors


# -- 1. Analysis at 10,000 runs ---------------------------------------------------------------------


@in_browser
def test_analysis_is_interactive_at_ten_thousand_runs(demo_url: str, big: str, page_at: Any) -> None:
    page = page_at(1440)
    page.add_init_script(LONGTASK_SCRIPT)
    got = measure_analysis(page, demo_url, big)
    print(f"Analysis at 10,000 runs: {got}")
    # The goal is 2 s (bench/service/dashboard_scale.py); 5 s absorbs a loaded CI machine. Before: 31 s, one 26 s task.
    assert got["interactive_ms"] < 5_000, got
    assert got["longest_task_ms"] < 3_000, got
    # Binned, not 9,000 markers per panel: one density heatmap per domain, the map as a mean-per-cell grid.
    kinds = page.evaluate("document.querySelector('#plot-weights').data.map(t => t.type)")
    assert kinds.count("heatmap") == 39 and "scatter" in kinds
    density = page.evaluate("document.querySelector('#plot-weights').data[0]")
    n_small = page.evaluate(
        "[...document.querySelector('#analysis-fidelity').options].find(o => o.selected).textContent"
    )
    counted = sum(c for row in density["z"] for c in row if c)
    assert f"({counted})" in n_small  # every run at the fidelity shown is counted once in each panel
    grid = page.evaluate("document.querySelector('#plot-map').data[0]")
    assert grid["type"] == "heatmap" and sum(c for row in grid["text"] for c in row) == counted
    # one marker trace and one best-so-far line per fidelity; the markers thinned, each line exact
    traces = page.evaluate("document.querySelector('#plot-best-runs').data")
    markers = [t for t in traces if t["mode"] == "markers"]
    assert len(markers) == len([t for t in traces if t["mode"] == "lines"]) >= 2
    assert sum(len(t["x"]) for t in markers) <= 2 * 2_100
    assert any("(1 in" in t["name"] for t in markers)
    page.locator("#plot-weights").scroll_into_view_if_needed()
    doc_shot(page, "analysis-10k-density", "#weights-card")
    page.locator("#map-card").scroll_into_view_if_needed()
    doc_shot(page, "analysis-10k-map", "#map-card")
    # The page still answers: the fidelity switch redraws the grid for the 1,000 runs at 300M (binned too:
    # 39 panels x 1,000 markers would take seconds).
    page.select_option("#analysis-fidelity", index=1)
    assert "fidelity=params%3D300000000" in page.url
    wait_until(
        page,
        "document.querySelector('#plot-weights').data[0].z.flat().reduce((a, b) => a + (b || 0), 0) === 1000",
    )
    assert page.evaluate("document.querySelector('#plot-weights').data[0].type") == "heatmap"


# -- 2. resizes -------------------------------------------------------------------------------------


@in_browser
def test_charts_follow_a_resize_without_collapsing(demo_url: str, catalog: list[dict[str, Any]], page_at: Any) -> None:
    if "regmix" not in {m["name"] for m in catalog}:
        pytest.skip("needs the regmix mixer")
    page = page_at(1440)
    page.goto(demo_url + f"/#/p/{DEMO}/optimize?mixer=regmix&n=2")
    page.click("#btn-recommend")
    page.wait_for_selector("#plot-recommendation svg.main-svg", timeout=120_000)
    page.click("#btn-propose")
    page.wait_for_selector("#plot-proposal svg.main-svg", timeout=120_000)
    before = page.locator("#plot-recommendation").bounding_box()
    assert before is not None and before["height"] > 300
    page.set_viewport_size({"width": 1000, "height": 900})
    wait_until(
        page,
        "document.querySelector('#plot-recommendation .main-svg').getBoundingClientRect().width < "
        f"{before['width'] - 100}",
    )
    page.wait_for_timeout(400)
    after = page.locator("#plot-recommendation").bounding_box()
    svg = page.locator("#plot-recommendation .main-svg").first.bounding_box()
    assert after is not None and svg is not None
    assert abs(after["height"] - before["height"]) < 2 and abs(svg["height"] - before["height"]) < 2
    rec_card = page.locator("#rec-card").bounding_box()
    prop_card = page.locator("#proposal-card").bounding_box()
    assert rec_card is not None and prop_card is not None
    assert svg["y"] + svg["height"] <= rec_card["y"] + rec_card["height"]  # the chart stays inside its card
    assert rec_card["y"] + rec_card["height"] <= prop_card["y"]  # and the card above the proposals
    assert svg["x"] + svg["width"] <= rec_card["x"] + rec_card["width"] + 1


# -- 3. narrow screens ------------------------------------------------------------------------------


@in_browser
def test_no_view_is_wider_than_a_phone(demo_url: str, catalog: list[dict[str, Any]], page_at: Any) -> None:
    page = page_at(390, 844)

    def assert_fits(where: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{where}: the page is {width} px wide"

    for tab in TABS:
        page.goto(demo_url + f"/#/p/{DEMO}/{tab}")
        page.wait_for_selector(f'.tab-body[data-view="{tab}"] .card')
        assert_fits(tab)
    # The run comparison: two runs selected from the URL, compared.
    page.goto(demo_url + f"/#/p/{DEMO}/runs?sel=1,2")
    page.wait_for_selector("#runs-table tbody tr")
    expect(page.locator("#compare-runs")).to_have_text("Compare selected (2)")
    page.click("#compare-runs")
    page.wait_for_selector("#plot-compare-weights svg.main-svg")
    assert_fits("run comparison")
    doc_shot(page, "narrow-run-compare", "#run-compare")
    # The mixer comparison with its results.
    if "regmix" in {m["name"] for m in catalog}:
        page.goto(demo_url + f"/#/p/{DEMO}/compare?mixers=regmix&folds=2")
        page.click("#btn-evaluate")
        page.wait_for_selector("#cmp-table tbody tr", timeout=180_000)
        page.wait_for_selector("#plot-scores svg.main-svg", timeout=60_000)
        assert_fits("compare mixers")
        # the scores table (8 columns) scrolls inside its own container, which fits the screen
        wrap = page.locator(".table-wrap:has(#cmp-table)").bounding_box()
        assert wrap is not None and wrap["x"] + wrap["width"] <= 390


# -- 4. the plot toolbar ----------------------------------------------------------------------------


@in_browser
def test_plot_toolbar_has_no_cloud_button_and_covers_no_legend(
    demo_url: str, catalog: list[dict[str, Any]], page_at: Any
) -> None:
    page = page_at(1440)
    page.goto(demo_url + f"/#/p/{DEMO}/analysis")
    page.wait_for_selector("#plot-best-runs svg.main-svg")
    checked = 0
    for sel in ("#plot-weights", "#plot-map", "#plot-best-runs"):
        page.locator(sel).scroll_into_view_if_needed()
        page.locator(sel).hover()
        bar = page.locator(f"{sel} .modebar")
        expect(bar).to_be_visible()
        titles = bar.locator(".modebar-btn").evaluate_all("els => els.map(e => e.dataset.title || '')")
        assert titles and not [t for t in titles if re.search("share|cloud|chart studio", t, re.I)], titles
        assert not bar.locator('[data-attr="sendChartToCloud"], [data-title^="Share"]').count()
        context = page.evaluate(f"(({{...document.querySelector('{sel}')._context}}))")
        assert context["showSendToCloud"] is False
        assert not context.get("plotlyServerURL"), context.get("plotlyServerURL")
        bar_box = page.locator(f"{sel} .modebar").evaluate_all(BOXES)[0]
        titled = f"{sel} g.legend, {sel} .annotation-text, {sel} .gtitle, {sel} .colorbar"
        covered = page.locator(titled).evaluate_all(BOXES)
        for box in covered:
            assert not overlap(bar_box, box), f"{sel}: the toolbar {bar_box} covers {box}"
            checked += 1
    # Every subplot title of the grid, the best-so-far legend and the map's legend and colour bar were checked.
    n_domains = page.locator("#plot-weights .annotation-text").count()
    assert n_domains >= 10 and checked >= n_domains + 3


# -- 5. URL state -----------------------------------------------------------------------------------


# What-if has answered its last prediction: a number shown, nothing in flight.
PREDICTED = (
    "document.querySelector('#whatif-predicted')?.textContent.trim() !== '\u2026'"
    " && !document.querySelector('.whatif-status')?.classList.contains('working')"
)


@in_browser
def test_view_state_round_trips_through_reload_and_a_copied_url(
    demo_url: str, http: httpx.Client, catalog: list[dict[str, Any]], page_at: Any
) -> None:
    page = page_at(1440)
    page.goto(demo_url + f"/#/p/{DEMO}/runs")
    page.wait_for_selector("#runs-table tbody tr[data-run]")
    page.select_option("#filter-status", "completed")
    page.locator('#runs-table th[data-sort="objective"]').click()
    page.locator("#page-next").click()
    expect(page.locator("#runs-range")).to_contain_text("51\u2013100")
    first_two = page.locator("#runs-table tbody tr[data-run]").evaluate_all(FIRST_TWO)
    for rid in first_two:
        page.locator(f'#runs-table tr[data-run="{rid}"] input.run-select').check()
    expect(page.locator("#compare-runs")).to_have_text("Compare selected (2)")
    url = page.url
    assert "status=completed" in url and "sort=objective" in url and "page=2" in url
    assert "sel=" + ",".join(sorted(first_two, key=int)) in url.replace("%2C", ",")

    def check_runs(p: Page) -> None:
        p.wait_for_selector("#runs-table tbody tr[data-run]")
        expect(p.locator("#filter-status")).to_have_value("completed")
        expect(p.locator('#runs-table th[data-sort="objective"]')).to_have_class(re.compile("sorted"))
        expect(p.locator("#runs-range")).to_contain_text("51\u2013100")
        rows = p.locator("#runs-table tbody tr[data-run]").evaluate_all(FIRST_TWO)
        assert rows == first_two
        for rid in first_two:
            expect(p.locator(f'#runs-table tr[data-run="{rid}"] input.run-select')).to_be_checked()
        expect(p.locator("#compare-runs")).to_have_text("Compare selected (2)")

    page.reload()
    check_runs(page)
    other = page_at(1440)
    other.goto(url)
    check_runs(other)

    # Analysis: the log weight axis.
    page.goto(demo_url + f"/#/p/{DEMO}/analysis")
    page.wait_for_selector("#plot-weights svg.main-svg")
    page.locator("#analysis-logx").check()
    assert "logx=1" in page.url
    page.reload()
    wait_until(page, "document.querySelector('#plot-weights')?.layout?.xaxis.type === 'log'")
    expect(page.locator("#analysis-logx")).to_be_checked()

    names = {m["name"] for m in catalog}
    if {"regmix", "mixing_law"} <= names:
        # Compare: the mixers checked and the folds.
        page.goto(demo_url + f"/#/p/{DEMO}/compare")
        page.wait_for_selector("#btn-evaluate")
        page.locator('.mixer-check[data-mixer="mixing_law"] input').uncheck()
        page.fill("#cmp-folds", "3")
        page.locator("#cmp-folds").dispatch_event("change")
        page.reload()
        page.wait_for_selector("#btn-evaluate")
        expect(page.locator('.mixer-check[data-mixer="mixing_law"] input')).not_to_be_checked()
        expect(page.locator('.mixer-check[data-mixer="regmix"] input')).to_be_checked()
        expect(page.locator("#cmp-folds")).to_have_value("3")
        # Optimize: the mixer and the batch size.
        page.goto(demo_url + f"/#/p/{DEMO}/optimize")
        page.wait_for_selector("#opt-mixer")
        page.select_option("#opt-mixer", "mixing_law")
        page.fill("#opt-n", "7")
        page.reload()
        page.wait_for_selector("#opt-mixer")
        expect(page.locator("#opt-mixer")).to_have_value("mixing_law")
        expect(page.locator("#opt-n")).to_have_value("7")
        # What-if: the mixture explored, in domain order, from a copied link and after moving a weight.
        n_domains = len(http.get(f"/api/v1/projects/{DEMO}").json()["domains"])
        mixture = ",".join(["0.5"] + ["1"] * (n_domains - 1))  # normalised on open: 0.5 / (0.5 + n - 1)
        page.goto(demo_url + f"/#/p/{DEMO}/whatif?mixer=regmix&w={mixture}")
        page.wait_for_selector(".weight-box")
        wait_until(page, PREDICTED)
        first = 0.5 / (0.5 + n_domains - 1)
        assert float(page.locator(".weight-box").first.input_value()) == pytest.approx(first, abs=1e-3)
        page.locator(".weight-box").first.fill("0.3")
        page.locator(".weight-box").first.dispatch_event("change")
        wait_until(page, "location.hash.includes('w=0.3')")
        # the moved mixture's prediction is answered before the reload: one cut off would go on computing on the
        # server and take a fit slot of the project from the reloaded page's own (a 429, a console error)
        wait_until(page, PREDICTED + " && document.querySelector('.tile-sub.good, .tile-sub.bad') !== null")
        page.reload()
        page.wait_for_selector(".weight-box")
        assert float(page.locator(".weight-box").first.input_value()) == pytest.approx(0.3, abs=1e-3)
        expect(page.locator("#wi-mixer")).to_have_value("regmix")


@in_browser
def test_session_view_options_stay_in_the_url(
    demo_url: str, http: httpx.Client, catalog: list[dict[str, Any]], page_at: Any
) -> None:
    if "aioli" not in {m["name"] for m in catalog}:
        pytest.skip("needs the aioli mixer")
    domains = ["web", "code", "books"]
    body = {"name": "online-url", "domains": [{"name": d} for d in domains], "objective": {"metric": "loss"}}
    assert http.post("/api/v1/projects", json=body).status_code == 201
    first, _ = _aioli_session(http, "online-url", domains)
    second, _ = _aioli_session(http, "online-url", domains)
    page = page_at(1440)
    page.goto(demo_url + f"/#/p/online-url/sessions/{first}?hideprobes=0&smooth=0.5")
    page.wait_for_selector("#plot-session-losses svg.main-svg")
    expect(page.locator("#session-hide-probes")).not_to_be_checked()
    expect(page.locator("#session-smooth")).to_have_value("0.5")
    page.locator("#session-hide-probes").check()
    assert "hideprobes=1" in page.url
    page.reload()
    page.wait_for_selector("#plot-session-losses svg.main-svg")
    expect(page.locator("#session-hide-probes")).to_be_checked()
    expect(page.locator("#session-smooth")).to_have_value("0.5")
    # Opening the other session keeps the options; the session itself is the route's argument.
    page.locator(f'#sessions-table tr[data-session="{second}"]').click()
    wait_until(page, f"location.hash.includes('/sessions/{second}?')")
    assert "smooth=0.5" in page.url and "hideprobes=1" in page.url
    page.wait_for_selector("#plot-session-losses svg.main-svg")
    expect(page.locator("#session-smooth")).to_have_value("0.5")
