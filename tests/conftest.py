"""Shared fixtures: the real mini PTB-XL excerpt, small copies of it to damage, a private cache."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_excerpt() -> Path:
    env = os.environ.get("PROTOECG_EXCERPT")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data" / "ptb-xl", REPO / "shared" / "data" / "ptb-xl"]
    for c in candidates:
        if (c / "ptbxl_database.csv").is_file():
            return c
    pytest.skip("the mini PTB-XL excerpt (../shared/data/ptb-xl) is not available")


@pytest.fixture(scope="session")
def excerpt_root() -> Path:
    """The real mini PTB-XL v1.0.3 excerpt (read-only)."""
    return _find_excerpt()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Every test session gets its own PROTOECG_CACHE, so tests never touch a user's cache."""
    old = os.environ.get("PROTOECG_CACHE")
    os.environ["PROTOECG_CACHE"] = str(tmp_path_factory.mktemp("protoecg-cache"))
    yield
    if old is None:
        os.environ.pop("PROTOECG_CACHE", None)
    else:
        os.environ["PROTOECG_CACHE"] = old


def copy_root(src: Path, dst: Path, ecg_ids=None, num_records: int | None = 30, rates=(100,)) -> Path:
    """Copy metadata and some records of a PTB-XL root into ``dst`` (the metadata rows trimmed to match)."""
    dst.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(src / "ptbxl_database.csv")
    if ecg_ids is not None:
        df = df[df["ecg_id"].isin(list(ecg_ids))]
    elif num_records is not None:
        df = df.head(num_records)
    for col, rate in (("filename_lr", 100), ("filename_hr", 500)):
        if rate not in rates:
            continue
        for rel in df[col]:
            for ext in (".hea", ".dat"):
                s = src / (rel + ext)
                if s.is_file():
                    d = dst / (rel + ext)
                    d.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(s, d)
    with open(src / "ptbxl_database.csv", newline="") as fh:  # keep the official text of the kept rows
        header, *lines = fh.read().splitlines(keepends=True)
    keep = {str(i) for i in df["ecg_id"]}
    (dst / "ptbxl_database.csv").write_text(header + "".join(l for l in lines if l.split(",", 1)[0] in keep))
    shutil.copyfile(src / "scp_statements.csv", dst / "scp_statements.csv")
    return dst


@pytest.fixture
def mini_root(excerpt_root, tmp_path) -> Path:
    """A private copy of the first 30 excerpt records (100 Hz), safe to damage."""
    return copy_root(excerpt_root, tmp_path / "ptbxl")
