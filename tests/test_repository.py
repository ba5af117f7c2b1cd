"""One place says where the project lives: _config.yml's repository.url. Every launch button (Jupyter
Book builds them from that setting), every Colab badge, every install cell, the package's URLs and the
citation name the same repository; the install cell installs only when the library does not import."""
from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def configured():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    slug = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", url).group(1)
    return url, slug, config["repository"].get("branch", "main"), config


def _cells(path: Path, kind: str) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def test_the_launch_buttons_come_from_the_configured_repository(configured):
    url, _, branch, config = configured
    assert config["html"]["use_repository_button"] is True
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["path_to_book"] == "" and branch == "main"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_badge_and_install_cell_names_the_configured_repository(configured, path):
    url, slug, branch, _ = configured
    markdown, code = _cells(path, "markdown"), _cells(path, "code")
    badges = [m for text in markdown for m in re.findall(r"\(https://colab\.research\.google\.com/github/([^)]*)\)", text)]
    installs = [line for text in code for line in text.splitlines() if "pip install" in line]
    any_url = [m for text in markdown + code for m in re.findall(r"github\.com/([\w.-]+/[\w.-]+?)(?:\.git|/|\b)", text)]
    if path.stem == "13_environment":          # the appendix of versions: no Colab badge, nothing to install
        assert not badges and not installs
        return
    assert badges == [f"{slug}/blob/{branch}/notebooks/{path.name}"]
    assert len(installs) == 1 and f'"protoecg-lib @ git+{url}.git@{branch}"' in installs[0]
    assert set(any_url) <= {slug}, f"{path.name} names another repository: {set(any_url) - {slug}}"


def test_the_package_and_the_citation_name_the_same_repository(configured):
    url, slug, _, _ = configured
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Repository"] == urls["Homepage"] == url and urls["Issues"] == f"{url}/issues"
    owner, name = slug.split("/")
    assert urls["Documentation"] == f"https://{owner}.github.io/{name}/"
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["repository-code"] == url and citation["url"] == urls["Documentation"]


def test_the_writer_agrees_with_every_notebook():
    sys.path.insert(0, str(REPO / "book"))
    try:
        import repository
    finally:
        sys.path.pop(0)
    assert repository.main(["--check"]) == 0


def _run_install_cell(source: str, importable: bool, monkeypatch) -> list[tuple[str, str]]:
    """Execute the install cell as IPython would, recording the %pip magic instead of running pip."""
    from IPython.core.inputtransformer2 import TransformerManager

    calls: list[tuple[str, str]] = []

    class Shell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    if not importable:
        monkeypatch.setitem(sys.modules, "protoecg_lib", None)       # `import protoecg_lib` raises ImportError
    code = TransformerManager().transform_cell(source)
    namespace = {"get_ipython": lambda: Shell()}
    try:
        exec(compile(code, "<install cell>", "exec"), namespace)
    except ImportError:
        assert not importable                                         # pip was "run" but nothing was installed
    return calls


def test_the_install_cell_installs_only_when_the_library_does_not_import(configured, monkeypatch, capsys):
    url, _, branch, _ = configured
    source = next(t for t in _cells(NOTEBOOKS[0], "code") if "pip install" in t)
    assert _run_install_cell(source, importable=True, monkeypatch=monkeypatch) == []
    assert "protoecg_lib 0." in capsys.readouterr().out
    assert _run_install_cell(source, importable=False, monkeypatch=monkeypatch) == [
        ("pip", f'install -q "protoecg-lib @ git+{url}.git@{branch}"')]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_setup_cell_shows_the_mode_switch(path):
    """Mode by device, visibly: one ``MODE = "auto"`` line, passed to ``setup_chapter(mode=MODE)``."""
    setups = [t for t in _cells(path, "code") if "setup_chapter(" in t]
    if path.stem == "13_environment":
        assert not setups
        return
    assert len(setups) == 1
    assert len(re.findall(r'^MODE = "auto" ', setups[0], re.M)) == 1 and "mode=MODE" in setups[0]
    assert len(re.findall(r"^KEEP_ON_DRIVE = False ", setups[0], re.M)) == 1
