"""Open built pages in headless Chromium and fail on a Python traceback or an empty figure.

Usage: python book/check_pages.py _build/html [page.html ...]
Screenshots go to _build/screenshots/. Checks:
* every page of the book: no traceback or error output in the static HTML, every output image
  has visible content (not a blank canvas);
* the intro and two chapters (or the pages named): rendered by Chromium (after JavaScript), the DOM
  has no traceback, math was typeset by MathJax, and the screenshot is not blank.
"""
from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--virtual-time-budget=8000"]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|class=\"[^\"]*(output traceback|output error)")
DEFAULT_PAGES = ["book/intro.html", "notebooks/01_ptbxl_and_its_labels.html", "notebooks/10_case_based_explanations.html"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = subprocess.run(["bash", "-lc", f"command -v {name}"], capture_output=True, text=True).stdout.strip()
        if path:
            return path
    sys.exit("check_pages: Chromium is not installed (apt-get install chromium)")


def image_has_content(data: bytes) -> bool:
    img = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32)
    if img.size == 0:
        return False
    background = np.median(img)
    return float((np.abs(img - background) > 20).mean()) > 0.002


def check_static(html_root: Path) -> list[str]:
    problems = []
    for page in sorted(html_root.rglob("*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        text = page.read_text(errors="replace")
        if TRACEBACK.search(text):
            problems.append(f"{page}: shows a Python traceback or error output")
        for src in re.findall(r'<img[^>]+src="([^"]+)"', text):
            if src.startswith("data:image/png;base64,"):
                data = base64.b64decode(src.split(",", 1)[1])
            elif src.startswith(("http:", "https:", "data:")) or src.endswith(".svg"):
                continue
            else:
                path = (page.parent / src).resolve()
                if not path.is_file():
                    problems.append(f"{page}: image {src} is missing")
                    continue
                data = path.read_bytes()
            if not image_has_content(data):
                problems.append(f"{page}: image {src[:60]} is empty")
    return problems


def check_rendered(html_root: Path, pages: list[str], shots: Path) -> list[str]:
    exe = chromium()
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for rel in pages:
        page = html_root / rel
        if not page.is_file():
            problems.append(f"{page}: not built")
            continue
        url = page.resolve().as_uri()
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                                 capture_output=True, text=True, timeout=120).stdout
        if TRACEBACK.search(dom):
            problems.append(f"{rel}: the rendered page shows a Python traceback")
        if "$" in dom and "mjx-container" not in dom and re.search(r"\\\(|\$\$", dom):
            problems.append(f"{rel}: math was not typeset (MathJax missing?)")
        shot = shots / (rel.replace("/", "__").replace(".html", ".png"))
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                            "--window-size=1280,2400", url], capture_output=True, timeout=120)
        if not shot.is_file() or not image_has_content(shot.read_bytes()):
            problems.append(f"{rel}: the screenshot is blank")
        else:
            print(f"check_pages: {rel} rendered -> {shot}")
    return problems


def main(argv: list[str]) -> int:
    html_root = Path(argv[1] if len(argv) > 1 else "_build/html")
    pages = argv[2:] or DEFAULT_PAGES
    problems = check_static(html_root) + check_rendered(html_root, pages, html_root.parent / "screenshots")
    for p in problems:
        print(f"check_pages: FAIL {p}")
    print(f"check_pages: {len(problems)} problem(s) in {html_root}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
