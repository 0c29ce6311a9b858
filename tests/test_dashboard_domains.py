"""The dashboard's Domains view: the current domain set grouped by family, the versions of the set with their changes
in words, a form that applies a change (a refused one shows its problems next to the fields and writes nothing),
editable family bounds; the runs table marks the domain-set version of each run, and a recommendation says how it
mapped runs from earlier versions. With ``MIXOPT_DOC_SHOTS=1`` the tests also write screenshots of the view under
``docs/screenshots/``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from mixers.domain_sets import map_weights
from tests import test_dashboard as dashboard
from tests.browser import wait_until
from tests.test_dashboard import Watched, in_browser
from tests.test_dashboard_research import doc_shot, plot_data

# the dashboard tests' fixtures: the demo server, an HTTP client to it, Chromium, a page that records what failed
browser = dashboard.browser
catalog = dashboard.catalog
demo_url = dashboard.demo_url
http = dashboard.http
watched = dashboard.watched

DOMAINS = {"web": 4e9, "code": 2e9, "books": 1e9}


def _project(http: httpx.Client, name: str, n: int = 10) -> list[int]:
    body = {
        "name": name,
        "domains": [{"name": d, "tokens": t} for d, t in DOMAINS.items()],
        "objective": {"metric": "loss"},
    }
    assert http.post("/api/v1/projects", json=body).status_code == 201
    runs = []
    for i in range(n):
        web = 0.1 + 0.8 * i / n
        weights = {"web": web, "code": (1 - web) * 0.6, "books": (1 - web) * 0.4}
        runs.append(
            {
                "external_id": f"r{i}",
                "weights": weights,
                "fidelity": {"tokens": 1e9},
                "metrics": {"loss": 3.0 + (web - 0.4) ** 2},
            }
        )
    made = http.post(f"/api/v1/projects/{name}/runs", json={"runs": runs})
    assert made.status_code == 201, made.text
    return [r["id"] for r in made.json()["runs"]]


def _split_web(http: httpx.Client, name: str) -> None:
    change = {
        "op": "split",
        "name": "web",
        "into": [{"name": "web/high", "tokens": 1e9}, {"name": "web/low", "tokens": 3e9}],
        "note": "quality classifier",
    }
    resp = http.patch(f"/api/v1/projects/{name}/domains", json=change)
    assert resp.status_code == 200, resp.text


@in_browser
def test_versions_show_a_split_in_words(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    _project(http, "dv-split")
    _split_web(http, "dv-split")
    page = watched.page
    page.goto(demo_url + "/#/p/dv-split/domains")
    rows = page.locator("#versions-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("split web into web/high, web/low")  # newest first
    expect(rows.nth(0)).to_contain_text("quality classifier")
    expect(rows.nth(0)).to_contain_text("current")
    expect(rows.nth(1)).to_contain_text("created")
    expect(rows.nth(1).locator("td").last).to_have_text("10")  # the runs trained on version 1
    expect(page.locator("#project-domains")).to_contain_text("version 2")
    # the current set, grouped: web is now a family of two, its token total above them
    family = page.locator('#domain-set-table tr[data-family="web"]')
    expect(family).to_contain_text("4.0e9")
    expect(page.locator('#domain-set-table tr[data-in="web"]')).to_have_count(2)
    # an earlier version opens to its domains, and stays open through a reload (the URL)
    rows.nth(1).click()
    expect(page.locator("#version-domains")).to_contain_text("Version 1: 3 domains")
    assert "version=1" in page.url
    page.reload()
    expect(page.locator("#version-domains")).to_contain_text("Version 1: 3 domains")
    doc_shot(page, "domains-versions")
    watched.assert_clean()


@in_browser
def test_an_add_through_the_form_makes_version_2_and_old_runs_stay_version_1(
    demo_url: str, http: httpx.Client, watched: Watched
) -> None:
    ids = _project(http, "dv-add")
    page = watched.page
    page.goto(demo_url + "/#/p/dv-add/domains?op=add")
    expect(page.locator("#change-op")).to_have_value("add")
    page.locator("#change-fields .part-name").first.fill("math/proofs")
    page.locator("#change-fields .part-tokens").first.fill("5e8")
    page.locator("#change-note").fill("new source")
    expect(page.locator("#change-preview")).to_contain_text("Version 2 would add math/proofs")
    with page.expect_response(lambda r: r.url.endswith("/dv-add/domains") and r.request.method == "PATCH") as resp:
        page.click("#change-apply")
    assert resp.value.status == 200
    expect(page.locator("#project-domains")).to_contain_text("version 2")
    expect(page.locator("#versions-table tbody tr").first).to_contain_text("add math/proofs")
    project = http.get("/api/v1/projects/dv-add").json()
    assert project["domain_version"] == 2
    assert [d["name"] for d in project["domains"]] == [*DOMAINS, "math/proofs"]
    assert project["domains"][-1]["tokens"] == 5e8
    # a run posted now is at version 2; the runs table marks the older ones
    new = http.post(
        "/api/v1/projects/dv-add/runs",
        json={
            "runs": [
                {
                    "external_id": "after",
                    "weights": {"web": 0.4, "code": 0.3, "books": 0.2, "math/proofs": 0.1},
                    "fidelity": {"tokens": 1e9},
                    "metrics": {"loss": 3.1},
                }
            ]
        },
    )
    assert new.status_code == 201, new.text
    page.goto(demo_url + "/#/p/dv-add/runs")
    page.reload()  # the open project polls for new runs every 5 s: read them now
    expect(page.locator("#runs-table tbody tr")).to_have_count(len(ids) + 1)
    badge = page.locator('#runs-table td[data-column="domain_version"]')
    texts = badge.all_text_contents()
    assert texts.count("v1") == len(ids) and texts.count("v2") == 1
    expect(page.locator(f'#runs-table tr[data-run="{ids[0]}"] .version-badge.old')).to_have_text("v1")
    expect(page.locator("#runs-table tr[data-run] .version-badge:not(.old)")).to_have_text("v2")
    # the runs of one version only, kept in the URL
    page.select_option("#filter-domain-version", "2")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    assert "dv=2" in page.url
    page.reload()
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    expect(page.locator("#runs-table tbody tr")).to_contain_text("after")
    watched.assert_clean()


@in_browser
def test_a_bad_change_shows_the_field_and_writes_nothing(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    _project(http, "dv-bad")
    page = watched.page
    page.goto(demo_url + "/#/p/dv-bad/domains?op=split")
    page.select_option("#split-name", "code")
    parts = page.locator("#change-fields .part-name")
    parts.nth(1).fill("books")  # a part may not take the name of a domain the set keeps
    with page.expect_response(lambda r: r.url.endswith("/dv-bad/domains") and r.request.method == "PATCH") as resp:
        page.click("#change-apply")
    problem = resp.value.json()
    assert resp.value.status == 422 and problem["code"] == "invalid_domain_change"
    loc = problem["errors"][0]["loc"]
    error = page.locator(f'#change-fields .field-error[data-loc="{loc}"]')
    expect(error).to_be_visible()
    assert error.evaluate("e => e.previousElementSibling.classList.contains('invalid')")
    expect(page.locator("#change-error")).to_contain_text("Nothing was changed")
    doc_shot(page, "domains-change-error", "#change-card")
    versions = http.get("/api/v1/projects/dv-bad/domains/versions").json()["items"]
    assert len(versions) == 1
    assert http.get("/api/v1/projects/dv-bad").json()["domain_version"] == 1
    watched.assert_clean(allowed_status=(422,))


@in_browser
def test_family_bounds_are_edited_in_place(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    _project(http, "dv-bounds")
    _split_web(http, "dv-bounds")
    page = watched.page
    page.goto(demo_url + "/#/p/dv-bounds/domains")
    lo = page.locator('input[data-family-bound="web:min_weight"]')
    hi = page.locator('input[data-family-bound="web:max_weight"]')
    lo.fill("0.6")
    hi.fill("0.2")  # min above max: refused, next to the field
    page.click("#save-family-bounds")
    expect(page.locator("#domain-set-card .field-error")).to_be_visible()
    assert http.get("/api/v1/projects/dv-bounds").json()["families"][0]["min_weight"] is None
    page.locator('input[data-family-bound="web:min_weight"]').fill("0.2")
    page.locator('input[data-family-bound="web:max_weight"]').fill("0.7")
    page.evaluate("document.querySelector('#domain-set-card').dataset.stale = '1'")
    with page.expect_response(lambda r: r.url.endswith("/projects/dv-bounds") and r.request.method == "PATCH") as resp:
        page.click("#save-family-bounds")
    assert resp.value.status == 200
    # the project opens afresh with the bounds it stored
    wait_until(
        page, "document.querySelector('#domain-set-card') && !document.querySelector('#domain-set-card').dataset.stale"
    )
    expect(page.locator('input[data-family-bound="web:min_weight"]')).to_have_value("0.2")
    family = http.get("/api/v1/projects/dv-bounds").json()["families"][0]
    assert (family["name"], family["min_weight"], family["max_weight"]) == ("web", 0.2, 0.7)
    doc_shot(page, "domains-family-bounds", "#domain-set-card")
    # What-if shows the family's total against its bounds
    page.locator(".tabs a", has_text="What-if").click()
    page.wait_for_selector(".slider-family", timeout=60_000)  # the view asks for the mixers first
    expect(page.locator('.slider-family[data-family="web"] .family-bounds')).to_have_text("bounds 20.0%\u201370.0%")
    expect(page.locator('.slider-family[data-family="web"] .family-total')).to_contain_text("%")
    watched.assert_clean(allowed_status=(422,))


@in_browser
def test_a_recommendation_says_how_it_mapped_earlier_runs(
    demo_url: str, http: httpx.Client, catalog: list[dict[str, Any]], watched: Watched
) -> None:
    ids = _project(http, "dv-rec", n=16)
    _split_web(http, "dv-rec")
    mixer = "regmix" if "regmix" in {m["name"] for m in catalog} else catalog[0]["name"]
    page = watched.page
    page.goto(demo_url + f"/#/p/dv-rec/optimize?mixer={mixer}")
    page.wait_for_selector("#btn-recommend")
    with page.expect_response(lambda r: r.url.endswith("/recommendations") and r.request.method == "POST") as resp:
        page.click("#btn-recommend")
    rec = resp.value.json()
    mapping = rec["diagnostics"]["domain_mapping"]
    note = page.locator("#rec-domain-mapping")
    expect(note).to_contain_text(f"{len(ids)} runs from earlier domain sets")
    counts = mapping["counts"]
    expect(note).to_contain_text(f"{counts['exact']} exact, {counts['assumed']} assumed")
    expect(note).to_contain_text("divided by")
    doc_shot(page, "domains-recommendation-mapping", "#rec-card")
    # the stored answer says the same in History
    said = note.inner_text()
    page.goto(demo_url + f"/#/p/dv-rec/history?item=r{rec['id']}")
    expect(page.locator("#history-domain-mapping")).to_have_text(said)
    page.locator(".tabs a", has_text="Runs").click()
    expect(page.locator('#runs-table td[data-column="domain_version"]').first).to_have_text("v1")
    doc_shot(page, "domains-runs-version", "#runs-table")
    watched.assert_clean()


@in_browser
def test_domains_view_fits_a_narrow_screen(demo_url: str, http: httpx.Client, browser: Any) -> None:
    _project(http, "dv-narrow")
    _split_web(http, "dv-narrow")
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        for op in ("add", "remove", "split", "merge"):
            page.goto(demo_url + f"/#/p/dv-narrow/domains?op={op}")
            page.wait_for_selector("#versions-table")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"domains ({op}): the page is {width} px wide"
        page.goto(demo_url + "/#/p/dv-narrow/runs")  # with the version column and filter
        page.wait_for_selector("#filter-domain-version")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"runs: the page is {width} px wide"
    finally:
        context.close()
    assert not errors, errors


@in_browser
def test_changes_mappings_and_reuse_in_words(demo_url: str, watched: Watched) -> None:
    page = watched.page
    page.goto(demo_url + "/")
    got = page.evaluate(
        """async () => {
        const v = await import('/static/js/domainversions.js');
        return [
            v.changeWords(null),
            v.changeWords({op: 'add', domains: [{name: 'math'}, {name: 'law'}]}),
            v.changeWords({op: 'remove', names: ['a']}),
            v.changeWords({op: 'split', name: 'web', into: [{name: 'web/high'}, {name: 'web/low'}]}),
            v.changeWords({op: 'merge', names: ['a', 'b'], into: {name: 'ab'}}),
            v.mappingText({version: 3, counts: {exact: 8, assumed: 3, dropped: 1},
                           notes: ["'web' divided by its parts' token shares", "trained on removed domain 'x'"]}),
            v.mappingText(undefined),
            v.reuseText({frozen: {'web/high': 0.3, code: 0.7}, free: ['math'], from_version: 1,
                         source: 'recommendation #4'}),
            v.reuseText(undefined),
        ];
    }"""
    )
    assert got == [
        "created",
        "add math, law",
        "remove a",
        "split web into web/high, web/low",
        "merge a, b into ab",
        "12 runs from earlier domain sets, mapped to version 3: 8 exact, 3 assumed ('web' divided by its parts' token "
        "shares), 1 dropped (trained on removed domain 'x')",
        "",
        "Reuse: kept the ratios of web/high, code (from recommendation #4, version 1) as one block; varied math",
        "",
    ]
    watched.assert_clean()


@in_browser
def test_analysis_reads_runs_of_earlier_sets_mapped(demo_url: str, http: httpx.Client, watched: Watched) -> None:
    ids = _project(http, "dv-analysis")
    _split_web(http, "dv-analysis")
    runs = {r["id"]: r for r in http.get("/api/v1/projects/dv-analysis/runs").json()["runs"]}
    page = watched.page
    page.goto(demo_url + "/#/p/dv-analysis/analysis")
    page.wait_for_selector("#plot-weights svg.main-svg")
    expect(page.locator("#analysis-domain-mapping")).to_contain_text(
        f"{len(ids)} of these runs are from earlier domain sets"
    )
    expect(page.locator("#analysis-domain-mapping")).to_contain_text(f"0 exact, {len(ids)} assumed")
    panels = page.locator("#plot-weights .annotation-text").all_text_contents()
    assert panels == ["Σ web", "web/high", "web/low", "code", "books"]
    traces = [t for t in plot_data(page, "#plot-weights") if t["name"] == "runs"]
    by_panel = dict(zip(panels, traces, strict=True))
    names = by_panel["web/high"]["text"]  # external ids, in the plotted order
    web = {runs[i]["external_id"]: runs[i]["weights"]["web"] for i in ids}
    # web/high has 1e9 of web's 4e9 tokens: a quarter of the old runs' web weight, as the mixers assume
    assert by_panel["web/high"]["x"] == pytest.approx([web[n] / 4 for n in names])
    assert by_panel["Σ web"]["x"] == pytest.approx([web[n] for n in names])
    watched.assert_clean()


@in_browser
def test_the_page_maps_weights_as_the_mixers_do(demo_url: str, watched: Watched) -> None:
    cases = [
        (
            {"web": 0.4, "code": 0.6},
            [
                {
                    "op": "split",
                    "name": "web",
                    "into": [{"name": "web/a", "tokens": 1.0}, {"name": "web/b", "tokens": 3.0}],
                }
            ],
        ),
        ({"web": 0.0, "code": 1.0}, [{"op": "split", "name": "web", "into": [{"name": "a"}, {"name": "b"}]}]),
        (
            {"a": 0.2, "b": 0.3, "c": 0.5},
            [{"op": "merge", "names": ["a", "b"], "into": {"name": "ab"}}, {"op": "add", "domains": [{"name": "d"}]}],
        ),
        ({"a": 0.0, "c": 1.0}, [{"op": "remove", "names": ["a"]}]),
        ({"a": 0.1, "c": 0.9}, [{"op": "add", "domains": [{"name": "d"}]}, {"op": "remove", "names": ["a"]}]),
    ]
    page = watched.page
    page.goto(demo_url + "/")
    got = page.evaluate(
        """async (cases) => {
        const m = await import('/static/js/domainmap.js');
        return cases.map(([w, changes]) => m.mapWeights(w, changes));
    }""",
        cases,
    )
    for (weights, changes), js in zip(cases, got, strict=True):
        py = map_weights(weights, changes)
        assert (js["how"], js["reason"]) == (py.how, py.reason)
        assert (js["weights"] is None) == (py.weights is None)
        if py.weights is not None:
            assert js["weights"] == pytest.approx(py.weights)
    watched.assert_clean()
