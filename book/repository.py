"""Where the project lives, said once: ``_config.yml``'s ``repository.url`` (and ``repository.branch``).

The book's launch buttons come from that setting through Jupyter Book; every chapter's "Open in
Colab" badge and its install cell are written from it by this script:

    python book/repository.py --write    # rewrite badges and install cells from _config.yml
    python book/repository.py --check    # exit 1, naming each notebook, when one disagrees (make book runs it)

``pyproject.toml``'s project URLs and ``CITATION.cff``'s ``repository-code`` name the same repository
(``tests/test_repository.py`` checks every one of these).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_BADGE = re.compile(r"\[!\[Open in Colab\]\(" + re.escape(BADGE_IMAGE) + r"\)\]\([^)]*\)")
_INSTALL_MARK = "%pip install"


def repository(config: Path = REPO / "_config.yml") -> tuple[str, str, str]:
    """``(url, owner/name, branch)`` from ``_config.yml`` (read without a YAML library: two keys)."""
    text = config.read_text(encoding="utf-8")
    block = re.search(r"^repository:\n((?:[ \t]+.*\n?)+)", text, re.M)
    if not block:
        raise SystemExit(f"{config}: no repository: section; set repository.url to the project's GitHub URL")
    url = re.search(r"^\s+url:\s*(\S+)", block.group(1), re.M)
    branch = re.search(r"^\s+branch:\s*(\S+)", block.group(1), re.M)
    if not url:
        raise SystemExit(f"{config}: repository.url is not set; set it to the project's GitHub URL")
    url = url.group(1).strip("'\"").rstrip("/")
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", url)
    if not match:
        raise SystemExit(f"{config}: repository.url {url!r} is not https://github.com/OWNER/NAME")
    return url, match.group(1), (branch.group(1).strip("'\"") if branch else "main")


def badge(slug: str, branch: str, notebook: str) -> str:
    """The Markdown of a chapter's Colab badge."""
    return (f"[![Open in Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/{slug}/blob/{branch}/"
            f"notebooks/{notebook})")


def install_cell(url: str, branch: str) -> str:
    """The first code cell of every chapter: install the library from the repository unless it imports."""
    return (
        "# Installs protoecg-lib from the project's repository when it is not installed (on Colab);\n"
        "# elsewhere (a checkout with `make setup`, or an installed wheel) nothing is installed.\n"
        "try:\n"
        "    import protoecg_lib\n"
        "except ImportError:\n"
        f"    %pip install -q \"protoecg-lib @ git+{url}.git@{branch}\"\n"
        "    import protoecg_lib\n"
        "print(f\"protoecg_lib {protoecg_lib.__version__}\")")


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _set_source(cell, text: str) -> None:
    lines = text.splitlines(keepends=True)
    cell["source"] = lines if isinstance(cell["source"], list) else text


def sync(notebook: Path, url: str, slug: str, branch: str, write: bool) -> list[str]:
    """Problems of one notebook (fixed in place when ``write``)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    problems = []
    wanted_badge, wanted_install = badge(slug, branch, notebook.name), install_cell(url, branch)
    badges = [c for c in nb["cells"] if c["cell_type"] == "markdown" and "Open in Colab" in _source(c)]
    installs = [c for c in nb["cells"] if c["cell_type"] == "code" and _INSTALL_MARK in _source(c)]
    for cell in badges:
        text = _source(cell)
        if _BADGE.sub(wanted_badge, text) != text or wanted_badge not in text:
            problems.append(f"{notebook.name}: the Colab badge does not point at {slug}@{branch}")
            _set_source(cell, _BADGE.sub(lambda m: wanted_badge, text))
    for cell in installs:
        if _source(cell) != wanted_install:
            problems.append(f"{notebook.name}: the install cell does not install from {url}@{branch}")
            _set_source(cell, wanted_install)
    if write and problems:
        notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when a badge or install cell disagrees")
    mode.add_argument("--write", action="store_true", help="rewrite them from _config.yml")
    args = parser.parse_args(argv)
    url, slug, branch = repository()
    problems = []
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        problems += sync(notebook, url, slug, branch, write=args.write)
    for p in problems:
        print(("fixed: " if args.write else "") + p, file=sys.stderr)
    if args.check and problems:
        print(f"run `python book/repository.py --write` to write them from _config.yml ({url})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
