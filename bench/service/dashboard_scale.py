"""The dashboard's Analysis tab at scale in Chromium: time to interactive and the longest main-thread task.

A 39-domain project with runs at two model sizes (90% at 30M parameters, 10% at 300M) at 1,000 / 3,000 / 10,000
runs. For each size the Runs tab is opened first (every run read), 2 s later (a user reading the table; the dashboard
now loads plotly.js meanwhile) the Analysis tab is clicked and timed:

- ``first_panel_ms``: click to the first Analysis chart on screen;
- ``interactive_ms``: click to the moment every Analysis chart is drawn and the main thread is free (the end of
  the last long task, PerformanceObserver ``longtask``, before a quiet second); goal under 2 s at 10,000 runs;
- ``longest_task_ms``: the longest task after the click (the freeze a user feels).

Baseline in the same run: the dashboard's JavaScript and CSS as of ``BEFORE`` (the commit before the scale work),
served to the same browser from ``git show`` through Playwright's request routing, against the same server.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import REPO, progress, save_figure, write_json
from bench.server import running_server

BEFORE = "99c18c8"  # the dashboard before WebGL/binned traces, chunked drawing and the resize fixes
SIZES = (1_000, 3_000, 10_000)
N_DOMAINS = 39
SMALL = {"params": 3e7}
LARGE = {"params": 3e8}
GOAL_MS = 2_000.0
PLOTS = ("#plot-weights", "#plot-map", "#plot-best-runs", "#plot-best-cost")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run"]

# Every long task (>= 50 ms) of the page, kept from the start (buffered) in page time (performance.now()).
LONGTASK_SCRIPT = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
}).observe({ type: 'longtask', buffered: true });
"""

# Whether every Analysis chart is drawn (a plotly figure or the view's empty note in its place).
DRAWN = "[" + ",".join(f"!!document.querySelector('{sel} .main-svg, {sel} .empty')" for sel in PLOTS) + "]"


def make_project(http: httpx.Client, name: str, n: int, seed: int = 0) -> None:
    """Create ``name``: ``N_DOMAINS`` domains from three sources, ``n`` completed runs at two fidelities (bulk)."""
    domains = [f"src{i % 3}-d{i:02d}" for i in range(N_DOMAINS)]
    body = {
        "name": name,
        "domains": [{"name": d, "tokens": 1e9 * (1 + i % 5)} for i, d in enumerate(domains)],
        "objective": {"metric": "loss", "direction": "minimize"},
        "target_fidelity": LARGE,
    }
    http.post("/api/v1/projects", json=body).raise_for_status()
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(N_DOMAINS, 0.3), size=n)
    runs = []
    for i, w in enumerate(weights):
        large = i % 10 == 9
        loss = float(3.4 - 0.3 * large + (w[:4] ** 2).sum() - 0.2 * w[5] + 0.02 * rng.normal())
        runs.append(
            {
                "external_id": f"r{i:05d}",
                "weights": dict(zip(domains, w.tolist(), strict=True)),
                "fidelity": LARGE if large else SMALL,
                "metrics": {"loss": loss, "acc": 1 - loss / 10},
                "cost": 10.0 if large else 1.0,
            }
        )
    for start in range(0, n, 5_000):
        http.post(f"/api/v1/projects/{name}/runs", json={"runs": runs[start : start + 5_000]}).raise_for_status()


def serve_static_from(page: Any, commit: str) -> None:
    """Answer the page's requests for the dashboard's own files with their content at ``commit``."""

    def handler(route: Any) -> None:
        rel = route.request.url.split("/static/", 1)[1].split("?")[0]
        shown = subprocess.run(
            ["git", "show", f"{commit}:app/static/{rel}"], cwd=REPO, capture_output=True, check=False
        )
        if shown.returncode != 0:
            route.fulfill(status=404, body=b"")
            return
        kind = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}.get(rel.rsplit(".", 1)[-1])
        route.fulfill(status=200, body=shown.stdout, headers={"Content-Type": kind or "application/octet-stream"})

    page.route(lambda url: "/static/" in url and "/static/vendor/" not in url, handler)


def measure_analysis(
    page: Any, base_url: str, project: str, quiet_ms: float = 1_000.0, timeout_s: float = 180.0, pause_s: float = 2.0
) -> dict[str, float]:
    """Open ``project``'s Runs tab (every run read), wait ``pause_s`` as a user reading the table would, click
    Analysis and time it (see the module docstring)."""
    page.goto(f"{base_url}/#/p/{project}/runs")
    _poll(page, "document.querySelector('#live')?.textContent.includes('live')", timeout_s)
    time.sleep(pause_s)
    t0 = page.evaluate("performance.now()")
    page.click('.tabs a[data-tab="analysis"]')
    first = drawn = None
    deadline = time.monotonic() + timeout_s
    while True:
        now, flags, tasks = page.evaluate(f"[performance.now(), {DRAWN}, window.__longtasks]")
        after = [(s, d) for s, d in tasks if s + d > t0]
        if first is None and any(flags):
            first = now
        if drawn is None and all(flags):
            drawn = now
        last_end = max((s + d for s, d in after), default=t0)
        if drawn is not None and now - max(drawn, last_end) >= quiet_ms:
            return {
                "first_panel_ms": (first or drawn) - t0,
                "interactive_ms": max(drawn, last_end) - t0,
                "longest_task_ms": max((d for _, d in after), default=0.0),
                "long_tasks": len(after),
            }
        if time.monotonic() > deadline:
            raise TimeoutError(f"Analysis of {project} not interactive after {timeout_s} s (drawn: {flags})")
        time.sleep(0.05)


def _poll(page: Any, expression: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.1)


def run(sizes: tuple[int, ...] = SIZES, repeats: int = 2, before: bool = True) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    variants = ["before", "after"] if before else ["after"]
    rows: list[dict[str, Any]] = []
    with (
        progress() as bar,
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp), env={"MIXOPT_AUTH": "off"}) as url,
        sync_playwright() as pw,
    ):
        task = bar.add_task("dashboard at scale", total=len(sizes) * (1 + len(variants) * repeats))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with httpx.Client(base_url=url, timeout=600) as http:
            for n in sizes:
                make_project(http, f"scale-{n}", n)
                bar.advance(task)
                for variant in variants:
                    for rep in range(repeats):
                        context = browser.new_context(viewport={"width": 1440, "height": 900})
                        page = context.new_page()
                        page.add_init_script(LONGTASK_SCRIPT)
                        if variant == "before":
                            serve_static_from(page, BEFORE)
                        try:
                            got = measure_analysis(page, url, f"scale-{n}", timeout_s=300)
                        finally:
                            context.close()
                        rows.append({"runs": n, "variant": variant, "repeat": rep, **got})
                        bar.update(task, advance=1, description=f"{n} runs, {variant}: {got['interactive_ms']:.0f} ms")
        browser.close()
    summary = []
    for n in sizes:
        for variant in variants:
            mine = [r for r in rows if r["runs"] == n and r["variant"] == variant]
            summary.append(
                {
                    "runs": n,
                    "variant": variant,
                    "interactive_ms": float(np.median([r["interactive_ms"] for r in mine])),
                    "first_panel_ms": float(np.median([r["first_panel_ms"] for r in mine])),
                    "longest_task_ms": float(np.median([r["longest_task_ms"] for r in mine])),
                }
            )
    payload = {
        "benchmark": "dashboard_scale",
        "setup": f"{N_DOMAINS} domains, 90% of runs at {SMALL}, 10% at {LARGE}; Chromium headless, 1440x900; "
        f"median of {repeats}; 'before' = app/static at {BEFORE}",
        "goal_interactive_ms": GOAL_MS,
        "rows": rows,
        "summary": summary,
    }
    write_json("dashboard_scale", payload)
    _plot(summary, variants)
    return payload


def _plot(summary: list[dict[str, Any]], variants: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for variant, style in zip(variants, ("o--", "o-"), strict=False):
        mine = [s for s in summary if s["variant"] == variant]
        xs = [s["runs"] for s in mine]
        axes[0].plot(xs, [s["interactive_ms"] / 1000 for s in mine], style, label=variant)
        axes[1].plot(xs, [s["longest_task_ms"] / 1000 for s in mine], style, label=variant)
    axes[0].axhline(GOAL_MS / 1000, color="red", linestyle=":", label="goal (2 s)")
    for ax, title in zip(axes, ("time to interactive", "longest main-thread task"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("runs in the project")
        ax.set_ylabel("seconds")
        ax.set_title(f"Analysis tab: {title}")
        ax.legend()
    fig.tight_layout()
    save_figure(fig, "dashboard_scale")
    plt.close(fig)


def table(p: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in p["summary"]:
        if s["variant"] != "after":
            continue
        base = next((b for b in p["summary"] if b["runs"] == s["runs"] and b["variant"] == "before"), None)
        rows.append(
            {
                "benchmark": f"Analysis tab, {s['runs']:,} runs x {N_DOMAINS} domains (Chromium)",
                "value": f"interactive {s['interactive_ms'] / 1000:.2f} s, longest task {s['longest_task_ms']:.0f} ms",
                "baseline": f"before: {base['interactive_ms'] / 1000:.1f} s, longest {base['longest_task_ms']:.0f} ms"
                if base
                else "",
                "ratio": f"{base['interactive_ms'] / s['interactive_ms']:.1f}" if base else "",
                "target": "interactive < 2 s" if s["runs"] == max(x["runs"] for x in p["summary"]) else "",
                "ok": s["interactive_ms"] < GOAL_MS if s["runs"] == max(x["runs"] for x in p["summary"]) else None,
            }
        )
    return rows


if __name__ == "__main__":
    from rich import print as rprint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated run counts")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-before", action="store_true", help="measure the current dashboard only")
    args = parser.parse_args()
    sizes = tuple(int(x) for x in args.sizes.split(","))
    rprint(table(run(sizes, args.repeats, before=not args.no_before)))
