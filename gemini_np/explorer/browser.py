"""Open the explorer page in a real, headless Chromium, offline: for the tests and the screenshots.

    launch(playwright)        the system's Chromium (Debian's ``chromium`` package), headless,
                              with every background network feature off
    block_network(page)       abort every request that is not a file:// URL; returns the
                              list that collects what was attempted (it should stay empty)
    BrowserUnavailable        no Playwright, or no Chromium that starts (tests skip on it)

Playwright's own browser download is not used (it needs the network): the browser is
the one at ``$GEMINI_NP_CHROMIUM``, else the first of ``chromium``, ``chromium-browser``,
``google-chrome`` on the PATH. Playwright (``pip install playwright``) is imported only
here, only when called: gemini_np never needs it.
"""
from __future__ import annotations

import os
import shutil

#: Headless, no sandbox (containers run as root), no GPU, and nothing that phones home.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-domain-reliability",
    "--disable-breakpad",
)
#: The screen of a classroom projector.
VIEWPORT = {"width": 1280, "height": 720}
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserUnavailable(RuntimeError):
    """No browser to run the page in; the message is one line saying what is missing."""


def find_chromium() -> str:
    """Path of a Chromium executable, or BrowserUnavailable."""
    path = os.environ.get("GEMINI_NP_CHROMIUM")
    if path:
        if not os.access(path, os.X_OK):
            raise BrowserUnavailable(f"GEMINI_NP_CHROMIUM={path} is not an executable")
        return path
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable("no Chromium found (apt-get install chromium, or set GEMINI_NP_CHROMIUM)")


def start_playwright():
    """A started Playwright (call ``.stop()`` when done), or BrowserUnavailable."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserUnavailable("Playwright is not installed (pip install playwright)") from None
    return sync_playwright().start()


def launch(playwright):
    """The system's Chromium, headless and quiet, through Playwright; BrowserUnavailable if it cannot start."""
    executable = find_chromium()
    try:
        return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
    except Exception as exc:  # Playwright raises its own Error types, and OSError for a broken binary
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserUnavailable(f"{executable} does not start: {first}") from None


def block_network(page) -> list:
    """Abort every request that is not for a file:// URL; returns the list of those attempted."""
    attempted = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            attempted.append(url)
            r.abort()

    page.route("**/*", route)
    return attempted
