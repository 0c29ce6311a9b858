"""The dashboard on a project whose domain names carry a family prefix (``dclm/web/high``): the runs view, a run's
detail and the analysis load without a console error or a failed request; domains are ordered, coloured and
legended by family (one hue per outermost family, shades for its members), and weights tables, the run detail and
the weight grid show each family's total above its members. With ``MIXOPT_DOC_SHOTS=1`` the tests also write
screenshots of the grouped views under ``docs/screenshots/``."""

from __future__ import annotations

import math
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests import test_dashboard as dashboard
from tests.browser import wait_until
from tests.test_dashboard import Watched, in_browser
from tests.test_dashboard_research import _aioli_session, doc_shot, oklab, plot_data

# the dashboard tests' fixtures: the demo server, an HTTP client to it, Chromium, a page that records what failed
browser = dashboard.browser
demo_url = dashboard.demo_url
http = dashboard.http
watched = dashboard.watched
catalog = dashboard.catalog

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
        runs.append(
            {
                "external_id": f"f{i}",
                "weights": weights,
                "fidelity": {"tokens": 1e9},
                "metrics": {"loss": 3.0 + (a - 0.3) ** 2},
            }
        )
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


# three outermost families: dclm (with dclm/web inside), code, and books (no family: a group of its own)
NESTED = ["dclm/web/high", "code/python", "books", "dclm/web/low", "dclm/books", "code/js"]
IN_ORDER = ["dclm/web/high", "dclm/web/low", "dclm/books", "code/python", "code/js", "books"]
PANELS = [
    "Σ dclm",
    "Σ dclm/web",
    "dclm/web/high",
    "dclm/web/low",
    "dclm/books",
    "Σ code",
    "code/python",
    "code/js",
    "books",
]


def _nested_project(http: httpx.Client, name: str, n: int = 12) -> None:
    body = {"name": name, "domains": [{"name": d, "tokens": 1e9} for d in NESTED], "objective": {"metric": "loss"}}
    assert http.post("/api/v1/projects", json=body).status_code == 201
    runs = []
    for i in range(n):
        raw = [1.0 + ((i * 7 + k * 3) % 5) for k in range(len(NESTED))]
        weights = {d: x / sum(raw) for d, x in zip(NESTED, raw, strict=True)}
        runs.append(
            {
                "external_id": f"n{i}",
                "weights": weights,
                "fidelity": {"tokens": 1e9},
                "metrics": {"loss": 3.0 + weights["dclm/web/high"] - 0.5 * weights["code/js"]},
            }
        )
    made = http.post(f"/api/v1/projects/{name}/runs", json={"runs": runs})
    assert made.status_code == 201, made.text


def hue(hex_color: str) -> float:
    _, a, b = oklab(hex_color)
    return math.degrees(math.atan2(b, a)) % 360


def hue_gap(x: float, y: float) -> float:
    return abs((x - y + 180) % 360 - 180)


def _subtotals_add_up(page: Page, table: str) -> int:
    """Every family row of ``table`` holds the sum of its members' values (data-value); returns how many."""
    checked = page.evaluate(
        """(sel) => [...document.querySelectorAll(`${sel} tr.family-row`)].map((tr) => {
            const fam = tr.dataset.family;
            const value = (row) => Number(row.querySelector('[data-value]').dataset.value);
            const members = [...document.querySelectorAll(`${sel} tr.member-row`)]
              .filter((m) => m.dataset.domain.startsWith(fam + '/'));
            return [fam, value(tr), members.reduce((s, m) => s + value(m), 0), members.length];
        })""",
        table,
    )
    for fam, total, summed, count in checked:
        assert count >= 1 and abs(total - summed) < 1e-9, f"{table}: {fam} shows {total}, its members sum to {summed}"
    return len(checked)


@in_browser
def test_families_share_a_hue_and_the_grid_has_family_totals(
    demo_url: str, http: httpx.Client, watched: Watched
) -> None:
    _nested_project(http, "nested")
    page = watched.page
    page.goto(demo_url + "/#/p/nested/analysis")
    page.wait_for_selector("#plot-weights svg.main-svg")
    titles = page.locator("#plot-weights .annotation-text").all_text_contents()
    assert titles == PANELS  # domains in family order, each family's total before its members
    runs = {
        t: tr
        for t, tr in zip(PANELS, [tr for tr in plot_data(page, "#plot-weights") if tr["name"] == "runs"], strict=True)
    }
    colour = {d: runs[d]["marker"]["color"] for d in IN_ORDER}
    assert len(set(colour.values())) == len(IN_ORDER)  # every domain its own shade
    dclm = [hue(colour[d]) for d in IN_ORDER[:3]]
    code = [hue(colour[d]) for d in IN_ORDER[3:5]]
    assert max(hue_gap(a, b) for a in dclm for b in dclm) <= 50  # one hue band per family
    assert max(hue_gap(a, b) for a in code for b in code) <= 50
    assert min(hue_gap(a, b) for a in dclm for b in code) >= 40  # families apart
    assert min(hue_gap(hue(colour["books"]), x) for x in dclm + code) >= 40
    for fam, members in (("Σ dclm", IN_ORDER[:3]), ("Σ dclm/web", IN_ORDER[:2]), ("Σ code", IN_ORDER[3:5])):
        summed = [sum(vals) for vals in zip(*(runs[d]["x"] for d in members), strict=True)]
        assert runs[fam]["x"] == [round(x, 12) for x in summed] or all(
            abs(a - b) < 1e-12 for a, b in zip(runs[fam]["x"], summed, strict=True)
        )
    # The map by family totals: three outermost families, so a triangle of them.
    page.select_option("#map-of", "families")
    wait_until(page, "document.querySelector('#plot-map').data[0].type === 'scatterternary'")
    ternary = plot_data(page, "#plot-map")[0]
    assert all(abs(a + b + c - 1) < 1e-9 for a, b, c in zip(ternary["a"], ternary["b"], ternary["c"], strict=True))
    layout = page.evaluate("document.querySelector('#plot-map').layout.ternary.aaxis.title.text")
    assert layout == "dclm"
    assert "map=families" in page.url
    page.reload()
    wait_until(page, "document.querySelector('#plot-map')?.data?.[0]?.type === 'scatterternary'")
    doc_shot(page, "families-weights-grid", "#weights-card")
    watched.assert_clean()


@in_browser
def test_legend_run_detail_and_compare_are_grouped_by_family(
    demo_url: str, http: httpx.Client, watched: Watched
) -> None:
    _nested_project(http, "grouped")
    page = watched.page
    page.goto(demo_url + "/#/p/grouped/runs")
    expect(page.locator("#runs-table tbody tr")).to_have_count(12)
    groups = page.locator("#runs-card .legend .legend-group").evaluate_all(
        "els => els.map(e => [e.dataset.family, e.querySelector('.legend-title')?.textContent ?? null, "
        "[...e.querySelectorAll('span[data-domain]')].map(s => s.dataset.domain)])"
    )
    # books has no family: it closes the legend in a group without a title
    assert groups == [["dclm", "dclm", IN_ORDER[:3]], ["code", "code", IN_ORDER[3:5]], ["", None, ["books"]]]
    page.locator("#runs-table tbody tr").first.click()
    detail = page.locator(".run-detail")
    expect(detail.locator("tr.family-row")).to_have_count(3)  # dclm, dclm/web, code
    assert _subtotals_add_up(page, ".run-detail") == 3
    # Folding dclm hides its members and dclm/web; unfolding shows them again.
    members = detail.locator('tr[data-in~="dclm"]')
    expect(members).to_have_count(4)
    detail.locator('tr[data-family="dclm"] button.fold').click()
    expect(detail.locator('tr[data-in~="dclm"]:visible')).to_have_count(0)
    expect(detail.locator('tr[data-domain="code/js"]')).to_be_visible()
    detail.locator('tr[data-family="dclm"] button.fold').click()
    expect(detail.locator('tr[data-in~="dclm"]:visible')).to_have_count(4)
    doc_shot(page, "families-run-detail", ".run-detail")
    # Two runs compared: the stacked bars by family carry plotly legend groups titled by family.
    boxes = page.locator("#runs-table tbody tr input.run-select")
    boxes.nth(1).check()
    boxes.nth(2).check()
    page.click("#compare-runs")
    page.wait_for_selector("#plot-compare-families svg.main-svg")
    traces = plot_data(page, "#plot-compare-families")
    assert [t["meta"]["domain"] for t in traces] == IN_ORDER
    assert [t.get("legendgroup") for t in traces] == ["dclm"] * 3 + ["code"] * 2 + [None]
    titles = [t.get("legendgrouptitle", {}).get("text") for t in traces]
    assert titles == ["dclm", None, None, "code", None, None]
    legend = page.locator("#plot-compare-families .legend text").all_text_contents()
    assert "dclm" in legend and "code" in legend and "web/high" not in legend and "dclm/web/high" in legend
    watched.assert_clean()


@in_browser
def test_recommendation_weights_have_family_totals(
    demo_url: str, http: httpx.Client, catalog: list[dict[str, Any]], watched: Watched
) -> None:
    _nested_project(http, "recfam", n=16)
    mixer = "regmix" if "regmix" in {m["name"] for m in catalog} else catalog[0]["name"]
    page = watched.page
    page.goto(demo_url + f"/#/p/recfam/optimize?mixer={mixer}")
    page.wait_for_selector("#btn-recommend")
    with page.expect_response(lambda r: r.url.endswith("/recommendations") and r.request.method == "POST") as resp:
        page.click("#btn-recommend")
    rec = resp.value.json()
    page.wait_for_selector("#rec-weights-table tr.family-row", timeout=120_000)
    rows = page.locator("#rec-weights-table tbody tr").evaluate_all(
        "els => els.map(e => e.dataset.family ? 'Σ ' + e.dataset.family : e.dataset.domain)"
    )
    assert rows == PANELS
    assert _subtotals_add_up(page, "#rec-weights-table") == 3
    shown = page.locator('#rec-weights-table tr[data-family="dclm"] [data-value]').get_attribute("data-value")
    assert abs(float(shown or "nan") - sum(rec["weights"][d] for d in IN_ORDER[:3])) < 1e-12
    page.wait_for_selector("#plot-rec-families svg.main-svg")
    assert [t.get("legendgroup") for t in plot_data(page, "#plot-rec-families")] == ["dclm"] * 3 + ["code"] * 2 + [None]
    doc_shot(page, "families-recommendation", "#rec-card")
    watched.assert_clean()


@in_browser
def test_family_views_fit_a_narrow_screen(demo_url: str, http: httpx.Client, browser: Any) -> None:
    _nested_project(http, "narrowfam")
    first = http.get("/api/v1/projects/narrowfam/runs").json()["runs"][0]["id"]
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for view, ready in (
            (f"runs?run={first}", ".run-detail tr.family-row"),
            ("analysis", "#plot-weights svg.main-svg"),
            ("whatif", ".slider-family"),
            ("optimize", "#btn-recommend"),
        ):
            page.goto(demo_url + f"/#/p/narrowfam/{view}")
            page.wait_for_selector(ready)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{view}: the page is {width} px wide"
    finally:
        context.close()
    assert not errors, errors


@in_browser
def test_session_traces_and_legend_are_grouped_by_family(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    body = {"name": "famsession", "domains": [{"name": d} for d in NESTED], "objective": {"metric": "loss"}}
    assert http.post("/api/v1/projects", json=body).status_code == 201
    sid, _ = _aioli_session(http, "famsession", NESTED)
    page = watched.page
    page.goto(demo_url + f"/#/p/famsession/sessions/{sid}")
    page.wait_for_selector("#plot-session-losses svg.main-svg")
    for plot in ("#plot-session-weights", "#plot-session-losses"):
        traces = [t for t in plot_data(page, plot) if not t["name"].endswith("(raw)")]
        assert [t["name"] for t in traces] == IN_ORDER
        assert [t.get("legendgroup") for t in traces] == ["dclm"] * 3 + ["code"] * 2 + [None]
        assert [t.get("legendgrouptitle", {}).get("text") for t in traces] == ["dclm", None, None, "code", None, None]
    titles = page.locator("#session-card .legend .legend-title").all_text_contents()
    assert titles == ["dclm", "code"]
    watched.assert_clean()
