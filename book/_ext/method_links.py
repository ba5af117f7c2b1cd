"""Sphinx extension of the book: the API page's "method §x.y" become links, and long constants stay short.

The library's docstrings cite the method reference (appendix D, ``book/method.md``) as "method §2.2",
"method §9.2 B3" or "method §5, §7.2", with the numbering of that page, whose sections carry MyST
labels (``(method-2-2)=``, ``(method-9-2-b3)=``, ``(method-9-2b)=``). On ``autodoc-process-docstring``
this extension turns every such citation whose label exists into ``:ref:`method §2.2 <method-2-2>```;
a list that continues the citation (``, §7.2``, ``/§7.2``, ``, B10``, ``/A5``) links each of its items.
A citation without a label stays plain text; inline literals (````...````), doctest lines and literal
blocks are left alone.

Module-level constants and class attributes whose value is long (the label tables, the statement
list) would print their whole ``repr`` in the signature line; their value is suppressed when its
``repr`` is longer than ``MAX_VALUE_CHARS``, and their docstring kept.
"""
from __future__ import annotations

import re
from pathlib import Path

METHOD_PAGE = Path(__file__).resolve().parents[1] / "method.md"
MAX_VALUE_CHARS = 80

_SECTION = r"§(?P<sec>\d+(?:\.\d+)*)(?P<sub>b)?(?P<range>-\d+(?:\.\d+)*)?(?: (?P<item>[AB]\d+))?(?P<number> item \d+)?"
#: "method §x.y" (or "Method §x.y"), the start of a citation.
CITATION = re.compile(r"\b(?P<word>[Mm]ethod) " + _SECTION)
#: A further item of the same citation: ", §y.z", "/§y.z", " and §y.z", or a bare item ", B10", "/A5".
CONTINUATION = re.compile(r"(?P<sep>, |/| and )(?:" + _SECTION.replace("?P<", "?P<c_") + r"|(?P<bare>[AB]\d+)\b)")
_LITERAL = re.compile(r"``.*?``")


def method_labels(page: Path = METHOD_PAGE) -> set[str]:
    """The labels of the method page, ``method-2-2`` for ``(method-2-2)=``."""
    return set(re.findall(r"^\((method[a-z0-9-]*)\)=\s*$", page.read_text(encoding="utf-8"), re.M))


def label_for(section: str, sub: str = "", item: str = "") -> str:
    """The label of a section citation: ``2.2`` -> ``method-2-2``, ``9.2`` + ``b`` -> ``method-9-2b``,
    ``9.2`` + ``B3`` -> ``method-9-2-b3``."""
    return "method-" + section.replace(".", "-") + (sub or "") + (f"-{item.lower()}" if item else "")


def _ref(text: str, label: str, labels: set[str]) -> str:
    return f":ref:`{text} <{label}>`" if label in labels else text


def link_citations(text: str, labels: set[str]) -> str:
    """Rewrite the method citations of one line of reStructuredText into ``:ref:`` links."""
    out, pos = [], 0
    for literal in list(_LITERAL.finditer(text)) + [None]:
        end = literal.start() if literal else len(text)
        out.append(_link_plain(text[pos:end], labels))
        if literal:
            out.append(literal.group(0))
            pos = literal.end()
    return "".join(out)


def _link_plain(text: str, labels: set[str]) -> str:
    out, pos = [], 0
    for m in CITATION.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        section, sub, item = m["sec"], m["sub"] or "", m["item"] or ""
        shown = f"{m['word']} §{section}{sub}{m['range'] or ''}" + (f" {item}" if item else "") + (m["number"] or "")
        out.append(_ref(shown, label_for(section, sub, item), labels))
        pos = m.end()
        while (c := CONTINUATION.match(text, pos)) is not None:
            if c["bare"]:
                item = c["bare"]
                out.append(c["sep"] + _ref(item, label_for(section, sub, item), labels))
            else:
                section, sub, item = c["c_sec"], c["c_sub"] or "", c["c_item"] or ""
                shown = f"§{section}{sub}{c['c_range'] or ''}" + (f" {item}" if item else "") + (c["c_number"] or "")
                out.append(c["sep"] + _ref(shown, label_for(section, sub, item), labels))
            pos = c.end()
    out.append(text[pos:])
    return "".join(out)


def link_docstring(lines: list[str], labels: set[str]) -> None:
    """Rewrite a docstring's lines in place, skipping doctest lines and literal blocks."""
    literal_indent = None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        if stripped.startswith((">>>", "...")):
            continue
        lines[i] = link_citations(line, labels)
        if line.rstrip().endswith("::"):
            literal_indent = indent


def _read_labels(app) -> None:
    app.protoecg_method_labels = method_labels()


def _process_docstring(app, what, name, obj, options, lines) -> None:
    link_docstring(lines, app.protoecg_method_labels)


def _long(value) -> bool:
    from sphinx.util.inspect import object_description
    try:
        return len(object_description(value)) > MAX_VALUE_CHARS
    except Exception:  # a repr that fails is no use to a reader either
        return True


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    from sphinx.ext.autodoc import AttributeDocumenter, DataDocumenter

    class ShortDataDocumenter(DataDocumenter):
        def should_suppress_value_header(self) -> bool:
            return super().should_suppress_value_header() or _long(self.object)

    class ShortAttributeDocumenter(AttributeDocumenter):
        def should_suppress_value_header(self) -> bool:
            return super().should_suppress_value_header() or _long(self.object)

    app.add_autodocumenter(ShortDataDocumenter, override=True)
    app.add_autodocumenter(ShortAttributeDocumenter, override=True)
    app.connect("builder-inited", _read_labels)
    app.connect("autodoc-process-docstring", _process_docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
