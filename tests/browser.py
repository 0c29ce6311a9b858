"""Waiting on the dashboard's state from a Playwright test.

Playwright's ``wait_for_function`` polls a string predicate through ``eval`` inside the page once the predicate is not
true at the first try, which the dashboard's Content Security Policy (``script-src 'self'``) refuses; so whether it
worked depended on timing. ``page.evaluate`` runs through the DevTools protocol, outside the page's CSP, so polling it
from Python works whatever the timing, and the CSP stays on as users get it.
"""

from __future__ import annotations

import time

from playwright.sync_api import Page


def wait_until(page: Page, expression: str, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Poll the JavaScript ``expression`` in ``page`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(expression):
                return
        except Exception:  # the element or plot may not exist yet
            if time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true after {timeout:.0f} s: {expression}")
        time.sleep(interval)
