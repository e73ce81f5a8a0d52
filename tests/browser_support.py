"""Debian's Chromium driven by Playwright, with every request outside the page's origin blocked."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Visit:
    """An open page, what it tried to fetch elsewhere and what it complained about."""

    page: Page
    outside_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium (never a downloaded browser) with a fresh profile."""
    executable = shutil.which("chromium")
    assert executable, "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield context
        finally:
            context.close()


def visit(context: BrowserContext, url: str, allowed: str) -> Visit:
    """Open ``url``; requests not starting with ``allowed`` are recorded and aborted."""
    page = context.new_page()
    seen = Visit(page)

    def route(r: Route) -> None:
        if r.request.url.startswith(allowed):
            r.continue_()
        else:
            seen.outside_requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.console_errors.append(str(e)))
    page.goto(url, wait_until="load", timeout=60_000)
    return seen
