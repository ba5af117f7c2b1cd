"""The method page has a label for every section the chapters cite as "§x.y" (so each citation can be
turned into a cross-reference), and the deviations page a label per deviation."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"§\s?(\d+(?:\.\d+)*)(b)?(?:\s+([AB]\d+))?")


def labels(page: str) -> set[str]:
    return set(re.findall(r"^\(([a-z0-9-]+)\)=\s*$", (ROOT / "book" / page).read_text(), re.M))


def label_of(section: str, suffix: str = "", item: str = "") -> str:
    return "method-" + section.replace(".", "-") + suffix + (f"-{item.lower()}" if item else "")


def test_label_names():
    assert label_of("2.2") == "method-2-2"
    assert label_of("9.1", item="A1") == "method-9-1-a1"
    assert label_of("9.2", "b") == "method-9-2b"


def test_every_cited_section_has_a_label():
    have = labels("method.md")
    cited = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for m in CITATION.finditer("".join(cell["source"])):
                cited.add((path.name, label_of(m.group(1), m.group(2) or "", m.group(3) or "")))
    missing = sorted((name, lab) for name, lab in cited if lab not in have)
    assert not missing, f"book/method.md lacks labels cited by chapters: {missing}"
    for section in ("1.1", "2.2", "3.6", "5", "6", "8.1", "11"):            # whether cited now or not
        assert label_of(section) in have
    assert {label_of("9.1", item=f"A{k}") for k in range(1, 7)} <= have
    assert {label_of("9.2", item=f"B{k}") for k in range(1, 19)} <= have


def test_deviation_labels():
    have = labels("deviations.md")
    for slug in ("imagenet", "amp", "zero-weight", "plain-validation", "best-checkpoint", "unprojected-kept",
                 "eval-mode", "dataset-metrics", "fast-preset"):
        assert f"deviation-{slug}" in have
