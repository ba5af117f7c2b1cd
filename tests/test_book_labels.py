"""The chapters' and the library's citations of the method reference (appendix D, ``book/method.md``).

The method page has a label for every section the chapters cite as "§x.y"; every such citation in a
chapter's text is a cross-reference to it (``{ref}`§2.2 <method-2-2>```), and nothing in the chapters
or the library still cites the "spec", a document readers do not have (the library says "method §x.y",
which the API page links). The deviations page has a label per deviation, and the chapters' links to
it and to the glossary resolve."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"§\s?(\d+(?:\.\d+)*)(b)?(?:\s+([AB]\d+))?")


SPEC = re.compile(r"\b[Ss]pec\s*§")
REF = re.compile(r"\{ref\}`([^`<]*?)(?:\s*<([^`>]+)>)?`")
TERM = re.compile(r"\{term\}`([^`<]*?)(?:\s*<([^`>]+)>)?`")


def labels(page: str) -> set[str]:
    return set(re.findall(r"^\(([a-z0-9-]+)\)=\s*$", (ROOT / "book" / page).read_text(), re.M))


def chapters():
    """(notebook name, cell type, cell source) of every cell of every chapter."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            yield path.name, cell["cell_type"], "".join(cell["source"])


def glossary_terms() -> set[str]:
    text = (ROOT / "book" / "glossary.md").read_text()
    terms = set()
    for block in re.findall(r"```\{glossary\}\n(.*?)```", text, re.S):
        terms |= {line.strip().lower() for line in block.splitlines() if line.strip() and not line[0].isspace()}
    return terms


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


def test_no_spec_citations_left():
    """Readers have the method reference, not the spec: no chapter and no library file cites "spec §"."""
    found = [(name, kind, m.group(0)) for name, kind, src in chapters() for m in SPEC.finditer(src)]
    for path in sorted((ROOT / "protoecg_lib").rglob("*.py")):
        found += [(str(path.relative_to(ROOT)), "python", m.group(0)) for m in SPEC.finditer(path.read_text())]
    assert not found, f"'spec §' left (write 'method §' in code, a {{ref}} link in chapters): {found}"


def test_chapter_citations_are_links_that_resolve():
    """Every "§x.y" in a chapter's text sits inside a {ref} link, and every link target exists."""
    known = labels("method.md") | labels("deviations.md")
    unlinked, unknown = [], []
    for name, kind, src in chapters():
        if kind != "markdown":
            continue
        linked = REF.sub(lambda m: "", src)
        unlinked += [(name, line.strip()) for line in linked.splitlines() if "§" in line]
        for m in REF.finditer(src):
            target = m.group(2) or m.group(1)
            if target.startswith(("method", "deviation")) and target not in known:
                unknown.append((name, target))
            if "§" in m.group(1):
                assert m.group(2) and m.group(2).startswith("method-"), (name, m.group(0))
    assert not unlinked, f"section citations that are not links: {unlinked}"
    assert not unknown, f"links to labels that do not exist: {unknown}"


def test_glossary_and_deviation_links():
    """Every {term} a chapter uses is defined in the glossary; the chapters link the deviations page."""
    terms = glossary_terms()
    assert {"prototype", "projection", "auroc", "logit", "cosine similarity"} <= terms
    undefined, linking = [], set()
    for name, kind, src in chapters():
        if kind != "markdown":
            continue
        for m in TERM.finditer(src):
            target = (m.group(2) or m.group(1)).strip().lower()
            if target not in terms:
                undefined.append((name, target))
        if re.search(r"<deviation[a-z-]*>", src):
            linking.add(name)
    assert not undefined, f"terms the glossary does not define: {undefined}"
    for chapter in ("03_rhythm_branch", "06_prototype_loss", "08_projection", "09_fusion_and_evaluation",
                    "12_full_pipeline_on_colab"):
        assert f"{chapter}.ipynb" in linking, f"{chapter} touches a deviation but does not link appendix E"


def _method_links():
    spec = importlib.util.spec_from_file_location("method_links", ROOT / "book" / "_ext" / "method_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_page_links_method_citations():
    """The API page's extension turns "method §x.y" into links to labels that exist, and only those."""
    ext = _method_links()
    have = ext.method_labels()
    assert have == labels("method.md")
    assert ext.link_citations("weights (method §2.2).", have) == "weights (:ref:`method §2.2 <method-2-2>`)."
    assert ext.link_citations("method §9.2 B1, B10", have) == (
        ":ref:`method §9.2 B1 <method-9-2-b1>`, :ref:`B10 <method-9-2-b10>`")
    assert ext.link_citations("Method §1.1, §9.2b/§7.2", have) == (
        ":ref:`Method §1.1 <method-1-1>`, :ref:`§9.2b <method-9-2b>`/:ref:`§7.2 <method-7-2>`")
    assert ext.link_citations("method §99.1 and ``method §2.2``", have) == "method §99.1 and ``method §2.2``"
    lines = ["Total (method §3)::", "", "    method §3 in a literal block", "", ">>> f()  # method §3"]
    ext.link_docstring(lines, have)
    assert lines == ["Total (:ref:`method §3 <method-3>`)::", "", "    method §3 in a literal block", "",
                     ">>> f()  # method §3"]
    # every citation in the library's docstrings lands on a section of the method page
    missing = set()
    for path in sorted((ROOT / "protoecg_lib").rglob("*.py")):
        for line in path.read_text().splitlines():
            for m in ext.CITATION.finditer(line):
                label = ext.label_for(m["sec"], m["sub"] or "", m["item"] or "")
                if label not in have:
                    missing.add((path.name, m.group(0)))
    assert not missing, f"library citations of sections the method page lacks: {sorted(missing)}"
