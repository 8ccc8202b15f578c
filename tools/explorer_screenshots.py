"""Regenerate the explorer's screenshots: docs/figures/explorer_*.png, 1280×720 each.

    python tools/explorer_screenshots.py [--lang zh|en] [--out docs/figures]

Writes the page with ``python -m gemini_np explore`` (in a temporary folder), opens it in
the headless Chromium the tests use (gemini_np.explorer.browser: Debian's ``chromium`` +
Playwright, network blocked), and photographs each view as a class would see it on a
1280×720 projector:

    explorer_forward.png        the step-through, forward: softmax of row 1 (猫)
    explorer_backward.png       the backward pass: dS = P ∘ (dP − r)
    explorer_image.png          per-patch attention over an image, one pixel's weights
    explorer_fusion.png         the fusion layer: token → patches and patch → tokens
    explorer_online.png         the online softmax replayed to its last block (the random example)
    explorer_presentation.png   presentation mode (large type), P = softmax(S)

Look at every one before committing: Chinese glyphs drawn (not boxes), nothing cut off.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gemini_np.explorer.browser import VIEWPORT, block_network, launch, start_playwright  # noqa: E402


def go_to_step(page, step_id, nth=1):
    """Press → from the first step until the stage shows the nth step with this id."""
    page.keyboard.press("Home")
    seen = 0
    for _ in range(40):
        if page.evaluate("document.getElementById('stage').dataset.step") == step_id:
            seen += 1
            if seen == nth:
                return
        page.keyboard.press("ArrowRight")
    raise RuntimeError(f"no step {step_id!r} in the page")


def shoot(page_path: Path, out_dir: Path, lang: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    playwright = start_playwright()
    try:
        browser = launch(playwright)
        page = browser.new_page(viewport=VIEWPORT)
        attempted = block_network(page)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.resolve().as_uri())
        page.wait_for_function("window.gnpExplorer !== undefined")
        page.click(f".lang-button[data-set-lang={lang}]")

        def save(name):
            path = out_dir / f"explorer_{name}.png"
            page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring in the picture
            page.screenshot(path=str(path))
            shots.append(path)

        go_to_step(page, "row")
        save("forward")
        go_to_step(page, "ds")
        save("backward")

        page.click(".tab[data-view=image]")  # its first pixel: on the shape, in a patch half shape, half background
        save("image")

        page.click(".tab[data-view=fusion]")
        save("fusion")

        page.click(".tab[data-view=online]")
        page.select_option("#online-preset", "1")  # the random example: 6 keys, 3 blocks of 2
        while not page.is_disabled("#online-next"):
            page.click("#online-next")
        save("online")

        page.click(".tab[data-view=steps]")
        page.select_option("#preset-select", "0")  # back to the article's example
        page.click("#present-button")
        go_to_step(page, "p")
        save("presentation")
        browser.close()
        if attempted or errors:
            raise RuntimeError(f"the page tried the network {attempted} or failed: {errors}")
    finally:
        playwright.stop()
    return shots


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("zh", "en"), default="zh")
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "explorer.html"
        subprocess.run([sys.executable, "-m", "gemini_np", "explore", "--out", str(page_path), "--lang", args.lang],
                       check=True, cwd=ROOT)
        for path in shoot(page_path, Path(args.out), args.lang):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
