"""book/check_pages.py's static checks on a small hand-made site: stderr boxes, external images,
internal links and anchors, file names turned into web addresses (the rendered checks need Chromium
and the built book; they run in .ci/run)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"


@pytest.fixture(scope="module")
def check_pages():
    spec = importlib.util.spec_from_file_location("check_pages", BOOK / "check_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><head></head><body>{body}</body></html>")


@pytest.fixture
def site(tmp_path) -> Path:
    root = tmp_path / "html"
    write(root / "book" / "intro.html",
          '<h1 id="top">Intro</h1><a href="#top">self</a><a href="../notebooks/ch1.html#sec-a">ch1</a>'
          '<a href="../notebooks/">folder</a><a href="https://example.org/x">web</a><a href="mailto:a@b.c">m</a>')
    write(root / "notebooks" / "ch1.html", '<section id="sec-a"><a href="../book/intro.html">back</a></section>')
    write(root / "notebooks" / "index.html", "<p>index</p>")
    return root


def test_a_clean_site_passes(check_pages, site):
    assert check_pages.check_static(site) == []


def test_broken_links_and_anchors_are_found(check_pages, site):
    write(site / "notebooks" / "ch2.html",
          '<a href="ch1.html#nowhere">a</a><a href="missing.html">b</a><a href="#gone">c</a>'
          '<a href="http://DEVELOPING.md">d</a><script src="../_static/missing.js"></script>')
    problems = check_pages.check_static(site)
    text = "\n".join(problems)
    assert "no anchor #nowhere in notebooks/ch1.html" in text
    assert "'missing.html' points at a missing file" in text
    assert "no anchor #gone" in text
    assert "'http://DEVELOPING.md' is a file name turned into a web address" in text
    assert "'../_static/missing.js' is missing" in text
    assert len(problems) == 5 and all(p.startswith("notebooks/ch2.html") for p in problems)


def test_stderr_boxes_and_external_images_are_found(check_pages, site):
    write(site / "notebooks" / "ch3.html",
          '<div class="cell_output docutils container"><div class="output stderr highlight-myst-ansi notranslate">'
          '<pre>UserWarning: the given NumPy array is not writable</pre></div></div>'
          '<img src="https://colab.research.google.com/assets/colab-badge.svg">')
    problems = check_pages.check_static(site)
    assert any("1 stderr output box" in p for p in problems)
    assert any("loads from the network" in p for p in problems)
    write(site / "notebooks" / "ch3.html", '<div class="output stream highlight-myst-ansi"><pre>ok</pre></div>')
    assert check_pages.check_static(site) == []
