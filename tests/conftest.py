"""Shared fixtures and helpers: the real mini PTB-XL excerpt, small copies of it to damage, a private
cache, tiny models, and a tiny run directory built in about a second (``build_tiny_run``)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

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


# ----------------------------------------------------------------------------- tiny models and runs
def tiny_config():
    """A three-branch ProtoECGNet config small enough to build and run in milliseconds."""
    from protoecg_lib.models import BranchConfig, ModelConfig

    common = dict(proto_dim=8, base_width=4, dropout=0.0)
    return ModelConfig(branches={
        "rhythm": BranchConfig("rhythm", "1d", prototypes_per_class=1, **common),
        "morphology": BranchConfig("morphology", "2d", prototypes_per_class=2, prototype_length=3,
                                   similarity_scale=13.0, **common),
        "global": BranchConfig("global", "2d", prototypes_per_class=2, similarity_scale=4.0, **common),
    }, name="tiny")


def tiny_pipeline_config(seed: int = 3):
    """The fast pipeline's settings around :func:`tiny_config`: two epochs per stage (a run in seconds)."""
    from protoecg_lib.training import TrainConfig, pipeline_config

    config = pipeline_config("fast", seed=seed)
    # the fast preset's rhythm branch reads beat timing (issue 16): the tiny one too, so the stages run it
    config.model = tiny_config().updated(branch="rhythm", beat_timing="rr", latent_center="running")
    short = TrainConfig(num_epochs=2, lr=1e-2, patience=2, batch_size=16, seed=seed)
    config.train = {s: short.replace() for s in config.train}
    config.baseline.base_width = 4
    config.n_boot = 10
    return config


@pytest.fixture(scope="session")
def tiny_pipeline_run(tmp_path_factory):
    """The whole tiny pipeline run once on the tiny synthetic root (a :class:`~protoecg_lib.runs.Run`).
    Shared: read it, or copy it before changing anything (``shutil.copytree(run.path, ...)``)."""
    from protoecg_lib.data import load_ptbxl
    from protoecg_lib.synthetic import synthetic_root
    from protoecg_lib.training import run_pipeline

    out = tmp_path_factory.mktemp("tiny-pipeline") / "run"
    return run_pipeline(data=load_ptbxl(synthetic_root("tiny")), out=out, config=tiny_pipeline_config(),
                        device="cpu", verbose=False)


def tiny_branch(name="morphology", seed=0):
    """One tiny branch (2 prototypes per class, 8-dim latent, width-4 backbone)."""
    from protoecg_lib.models import BranchConfig, ProtoBranch

    torch.manual_seed(seed)
    kind = "1d" if name == "rhythm" else "2d"
    length = 3 if name == "morphology" else None
    return ProtoBranch(BranchConfig(name, kind, prototypes_per_class=2, prototype_length=length, proto_dim=8,
                                    base_width=4, dropout=0.35,
                                    similarity_scale={"rhythm": None, "morphology": 13.0, "global": 4.0}[name]))


@torch.no_grad()
def build_tiny_run(out: Path, data, seed: int = 0, num_train: int = 120):
    """A complete run directory around an untrained tiny model (projection is real, on training ECGs)."""
    from protoecg_lib.labels import BRANCHES
    from protoecg_lib.models import ProtoECGNet
    from protoecg_lib.models.checkpoints import save_checkpoint
    from protoecg_lib.runs import Run, RunLayout, save_prototype_sources, write_predictions
    from protoecg_lib.training.projection import project_prototypes

    torch.manual_seed(seed)
    model = ProtoECGNet(tiny_config(), load_pretrained=False).eval()
    layout = RunLayout(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in BRANCHES:
        sources = project_prototypes(model.branches[name], data.split("train", name).head(num_train))
        save_prototype_sources(sources, layout.prototypes(name))
    save_checkpoint(layout.model, model, extra={"stage": "fusion"})
    for split in ("val", "test"):
        sp = data.split(split, "all")
        logits = model(torch.from_numpy(np.array(sp.signals))).logits.double().numpy()
        write_predictions(layout.predictions(split), sp.ecg_id, sp.patient_id, sp.labels, sp.targets, logits)
    config = {"pipeline": {"preset": "tiny", "seed": 0, "n_boot": 20},
              "data": {"root": str(data.root), "source": data.source, "fs": data.fs, "records": len(data),
                       "options": json.loads(json.dumps(data.options))}}
    layout.config.write_text(json.dumps(config))
    return Run(out)
