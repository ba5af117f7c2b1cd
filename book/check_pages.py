"""Check the built book: what a reader would trip over, in the static HTML and rendered by Chromium.

Usage: python book/check_pages.py _build/html [page.html ...]
Screenshots go to _build/screenshots/. Checks:

* every page, in the static HTML:
  - no Python traceback or error output, and no **stderr output box** (myst-nb gives a cell's stderr
    the classes ``output stderr``: warnings, log noise);
  - every output image has visible content (not a blank canvas); no image loads from the network
    (it is a broken image in the offline book);
  - every **internal link** resolves: each ``href`` to a local page or file exists, and its
    ``#anchor`` exists in the target page (an ``id`` or ``name``); local scripts and style sheets
    exist; no link whose "host" is a file name (``http://DEVELOPING.md``: a file name turned into a
    web address by linkify);
* every page with display math, rendered by Chromium: no equation is **wider than its column**
  (a script injected into a temporary copy of the page measures each MathJax display equation after
  typesetting, at a 1280-pixel-wide window, and writes the result into the DOM that ``--dump-dom``
  returns);
* the intro, two chapters and the method page (or the pages named): rendered by Chromium (after
  JavaScript), the DOM has no traceback, math was typeset by MathJax, and the screenshot is not blank.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
from PIL import Image

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--virtual-time-budget=8000"]
WINDOW = "--window-size=1280,2400"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|class=\"[^\"]*(output traceback|output error)")
STDERR = re.compile(r"class=\"[^\"]*\boutput stderr\b")
DISPLAY_MATH = re.compile(r"<div class=\"math notranslate nohighlight\"")
FILE_AS_HOST = re.compile(r"\.(md|py|ipynb|txt|json|csv|toml|ya?ml|cfg|ini|sh)$", re.IGNORECASE)
DEFAULT_PAGES = ["book/intro.html", "notebooks/01_ptbxl_and_its_labels.html",
                 "notebooks/10_case_based_explanations.html", "book/method.html", "book/results.html"]
MATH_MARK = "protoecg-mathcheck"
# Measures every display equation once MathJax has typeset the page; the result goes into an attribute.
MATH_PROBE = """
<script>
(function () {
  function report(data) {  // an attribute of <html>: elements added to <body> can be re-rendered away
    document.documentElement.setAttribute('data-%(mark)s', JSON.stringify(data));
  }
  function measure() {
    var wide = [], all = document.querySelectorAll('mjx-container[display="true"]');
    all.forEach(function (el, i) {
      var column = el.parentElement.getBoundingClientRect().width;
      var math = el.querySelector('mjx-math') || el;
      var width = math.getBoundingClientRect().width;
      if (width > column + 1) {
        var tex = '';
        try { tex = MathJax.startup.document.getMathItemsWithin(el)[0].math; } catch (e) {}
        wide.push({index: i, width: Math.round(width), column: Math.round(column), tex: tex.slice(0, 80)});
      }
    });
    report({equations: all.length, wide: wide});
  }
  var tries = 0;
  function wait() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(function () { setTimeout(measure, 200); });
    } else if (++tries < 60) { setTimeout(wait, 100); } else { report({error: 'MathJax did not start'}); }
  }
  // not 'load': on a page with many outputs a resource that never answers offline can hold it back
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', wait); } else { wait(); }
})();
</script>
""" % {"mark": MATH_MARK}


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


class _Page(HTMLParser):
    """The anchors (``id``/``name``) a page defines and the local references it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: set[str] = set()
        self.links: list[str] = []      # <a href>
        self.assets: list[str] = []     # <script src>, <link href>

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.anchors.add(a[key])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or ""):
            self.assets.append(a["href"])


def pages_of(html_root: Path) -> list[Path]:
    return [p for p in sorted(html_root.rglob("*.html")) if "_static" not in p.parts and "_sources" not in p.parts]


def check_links(html_root: Path) -> list[str]:
    """Internal links, anchors and local assets of every page (see the module docstring)."""
    parsed: dict[Path, _Page] = {}

    def parse(path: Path) -> _Page:
        if path not in parsed:
            page = _Page()
            page.feed(path.read_text(errors="replace"))
            parsed[path] = page
        return parsed[path]

    problems = []
    root = html_root.resolve()
    for page_path in pages_of(html_root):
        page = parse(page_path.resolve())
        rel = page_path.relative_to(html_root)
        for href in page.links:
            url = urlsplit(href)
            if url.scheme in ("http", "https"):
                if FILE_AS_HOST.search(url.netloc or ""):
                    problems.append(f"{rel}: link {href!r} is a file name turned into a web address")
                continue
            if url.scheme or href.startswith("//"):
                continue                                   # mailto:, javascript:, data:, ...
            target = page_path.resolve() if not url.path else (page_path.parent / unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{rel}: link {href!r} points at a missing file")
                continue
            if root not in target.parents and target != root:
                problems.append(f"{rel}: link {href!r} leaves the built site")
                continue
            fragment = unquote(url.fragment)
            if fragment and target.suffix == ".html" and fragment not in parse(target).anchors:
                problems.append(f"{rel}: link {href!r}: no anchor #{fragment} in {target.relative_to(root)}")
        for src in page.assets:
            url = urlsplit(src)
            if url.scheme or src.startswith("//"):
                continue
            if not (page_path.parent / unquote(url.path)).resolve().is_file():
                problems.append(f"{rel}: script or style sheet {src!r} is missing")
    return problems


def check_static(html_root: Path) -> list[str]:
    problems = []
    for page in pages_of(html_root):
        text = page.read_text(errors="replace")
        rel = page.relative_to(html_root)
        if TRACEBACK.search(text):
            problems.append(f"{rel}: shows a Python traceback or error output")
        stderr = len(STDERR.findall(text))
        if stderr:
            problems.append(f"{rel}: shows {stderr} stderr output box(es) (a warning or log noise in a cell's output)")
        for src in re.findall(r'<img[^>]+src="([^"]+)"', text):
            if src.startswith(("http:", "https:", "//")):
                problems.append(f"{rel}: image {src} loads from the network (a broken image offline)")
                continue
            if src.startswith("data:image/png;base64,"):
                data = base64.b64decode(src.split(",", 1)[1])
            elif src.startswith("data:"):
                continue
            else:
                path = (page.parent / unquote(src)).resolve()
                if not path.is_file():
                    problems.append(f"{rel}: image {src} is missing")
                    continue
                if path.suffix.lower() == ".svg":
                    continue
                data = path.read_bytes()
            if not image_has_content(data):
                problems.append(f"{rel}: image {src[:60]} is empty")
    return problems + check_links(html_root)


def _dump_dom(exe: str, url: str, budget_ms: int | None = None) -> str:
    flags = CHROME_FLAGS if budget_ms is None else \
        [f for f in CHROME_FLAGS if not f.startswith("--virtual-time-budget")] + [f"--virtual-time-budget={budget_ms}"]
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, *flags, f"--user-data-dir={profile}", WINDOW, "--dump-dom", url],
                              capture_output=True, text=True, timeout=180).stdout


def check_math_width(html_root: Path) -> list[str]:
    """Display equations wider than their column, measured in Chromium on every page with display math."""
    exe = chromium()
    problems = []
    for page in pages_of(html_root):
        text = page.read_text(errors="replace")
        if not DISPLAY_MATH.search(text):
            continue
        rel = page.relative_to(html_root)
        probe = page.with_name(page.stem + ".mathcheck.html")   # beside the page: same relative URLs
        found = None
        try:
            probe.write_text(text.replace("</body>", MATH_PROBE + "</body>", 1))
            for budget_ms in (8000, 30000, 60000):     # a loaded machine can need more (virtual) time
                dom = _dump_dom(exe, probe.resolve().as_uri(), budget_ms)
                found = re.search(rf'data-{MATH_MARK}="([^"]*)"', dom)
                if found:
                    break
        finally:
            probe.unlink(missing_ok=True)
        if not found:
            problems.append(f"{rel}: the math-width probe did not report (page did not finish rendering?)")
            continue
        result = json.loads(html.unescape(found.group(1)))
        if "error" in result:
            problems.append(f"{rel}: {result['error']}")
            continue
        for eq in result["wide"]:
            problems.append(f"{rel}: display equation {eq['index'] + 1} is {eq['width']} px wide in a "
                            f"{eq['column']} px column (clipped; break it with an aligned environment): "
                            f"{eq['tex']!r}")
        print(f"check_pages: {rel}: {result['equations']} display equation(s), {len(result['wide'])} too wide")
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
        dom = _dump_dom(exe, url)
        if TRACEBACK.search(dom):
            problems.append(f"{rel}: the rendered page shows a Python traceback")
        if "$" in dom and "mjx-container" not in dom and re.search(r"\\\(|\$\$", dom):
            problems.append(f"{rel}: math was not typeset (MathJax missing?)")
        shot = shots / (rel.replace("/", "__").replace(".html", ".png"))
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                            WINDOW, url], capture_output=True, timeout=180)
        if not shot.is_file() or not image_has_content(shot.read_bytes()):
            problems.append(f"{rel}: the screenshot is blank")
        else:
            print(f"check_pages: {rel} rendered -> {shot}")
    return problems


def main(argv: list[str]) -> int:
    html_root = Path(argv[1] if len(argv) > 1 else "_build/html")
    if not html_root.is_dir():
        print(f"check_pages: {html_root} is not a built site; run `make book` first")
        return 2
    pages = argv[2:] or DEFAULT_PAGES
    problems = (check_static(html_root) + check_math_width(html_root)
                + check_rendered(html_root, pages, html_root.parent / "screenshots"))
    for p in problems:
        print(f"check_pages: FAIL {p}")
    print(f"check_pages: {len(problems)} problem(s) in {html_root}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
