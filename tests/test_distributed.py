"""Distributed training (torchrun, DistributedDataParallel, gloo on the CPU) equals one process.

The whole pipeline of a tiny model runs once in one process and once in two processes started by
torch's own launcher; the prototype sources and the predictions must agree. The helpers of
training/distributed.py are checked on one process (where they are the identity) and by hand.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from protoecg_lib.training import distributed as dist

SCRIPT = textwrap.dedent('''
    import sys
    import torch
    from protoecg_lib.models import BranchConfig, ModelConfig
    from protoecg_lib.models.baseline import BaselineConfig
    from protoecg_lib.training import distributed as dist
    from protoecg_lib.training.config import PipelineConfig, train_presets
    from protoecg_lib.training.pipeline import run_pipeline

    torch.set_num_threads(1)
    root, out = sys.argv[1], sys.argv[2]
    device = dist.init_from_env("cpu")
    common = dict(proto_dim=8, base_width=4)
    model = ModelConfig(branches={
        "rhythm": BranchConfig("rhythm", "1d", prototypes_per_class=1, dropout=0.0, **common),
        "morphology": BranchConfig("morphology", "2d", prototypes_per_class=2, prototype_length=3,
                                   similarity_scale=13.0, dropout=0.35, **common),
        "global": BranchConfig("global", "2d", prototypes_per_class=1, similarity_scale=4.0, dropout=0.35,
                               **common),
    }, name="tiny")
    train = train_presets("fast")
    # batch 31: the last of the 12 batches of the 344 training ECGs holds 3 rows, split 2 + 1 over two ranks.
    # One epoch at the paper's learning rate: training amplifies float reordering (a sum of two half-batch
    # gradients is not bit-equal to the whole batch's), at 1e-3 by ~10% in 12 steps, fast or plain layers alike.
    for stage in [s for s in train if s.split(":")[0] in ("joint", "feature_extractor", "prototypes")]:
        train[stage] = train[stage].replace(num_epochs=1, batch_size=31, lr=1e-4)   # incl. joint:rhythm
    for stage in ("classifier", "fusion"):
        train[stage] = train[stage].replace(num_epochs=15)
    config = PipelineConfig(preset="fast", model=model, train=train, n_boot=20,
                            baseline=BaselineConfig(backbone="1d", label_set="all", base_width=4))
    try:
        run_pipeline(root, out=out, config=config, device=device, verbose=False)
    finally:
        dist.shutdown()
''')


STEP = textwrap.dedent('''
    import sys
    import torch
    sys.path.insert(0, sys.argv[1])
    from conftest import tiny_branch
    from protoecg_lib.data import load_ptbxl
    from protoecg_lib.training import TrainConfig
    from protoecg_lib.training import distributed as dist
    from protoecg_lib.training.branch import joint_step, set_stage
    from protoecg_lib.training.heads import predict_logits
    from protoecg_lib.training.loop import make_optimizer
    from protoecg_lib.training.objective import PrototypeLoss
    from protoecg_lib.training.projection import project_prototypes

    torch.set_num_threads(1)
    dist.init_from_env("cpu")
    ds = load_ptbxl(sys.argv[2])
    result = {}
    for name in ("rhythm", "morphology", "rhythm_rr"):   # morphology: dropout 0.35 and 2D batch norms
        torch.manual_seed(0)
        branch = tiny_branch(name.split("_")[0])
        if name == "rhythm_rr":                      # the fast preset's rhythm: running centring, beat timing
            from dataclasses import replace
            from protoecg_lib.models import ProtoBranch
            torch.manual_seed(0)
            branch = ProtoBranch(replace(branch.config, latent_center="running", beat_timing="rr", beat_dim=8))
        train = ds.split("train", name.split("_")[0])
        criterion = PrototypeLoss(train.class_weights(), branch.class_identity, train.cooccurrence())
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        x, y = torch.from_numpy(train.signals[:7].copy()), torch.from_numpy(train.targets[:7].copy())
        params = set_stage(branch, "joint")
        model = dist.wrap_ddp(branch, "cpu")
        optimizer = make_optimizer(params, TrainConfig())
        index, offset, total = dist.shard_batch(torch.arange(7))   # 4 + 3 rows over two ranks
        torch.manual_seed(5)
        with dist.sharded_batch(branch, dist.BatchShard(offset, total)):
            joint_step(model, branch, criterion, optimizer, scaler, x[index], y[index],
                       loss_scale=len(index) * dist.world_size() / total)
        del model
        branch.eval()
        logits = predict_logits(lambda t: branch(t).logits, train.signals[:50], 16)
        sources = project_prototypes(branch, train.head(101), batch_size=16)
        result[name] = {"state": {k: v.clone() for k, v in branch.state_dict().items()},
                        "logits": torch.from_numpy(logits),
                        "sources": [(s.ecg_id, s.window_index, s.similarity) for s in sources]}
    if dist.is_main():
        torch.save(result, sys.argv[3])
    dist.shutdown()
''')


def _run(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def test_two_gloo_processes_equal_one_process(excerpt_root, tmp_path):
    script = tmp_path / "tiny_pipeline.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, str(script), str(excerpt_root), str(one)], env)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          str(script), str(excerpt_root), str(two)], env)

    for name in ("rhythm", "morphology", "global"):
        a = json.loads((one / name / "prototypes.json").read_text())
        b = json.loads((two / name / "prototypes.json").read_text())
        assert [(p["ecg_id"], p["window_index"]) for p in a] == [(p["ecg_id"], p["window_index"]) for p in b], name
        sa, sb = (np.array([p["similarity"] or 0.0 for p in x]) for x in (a, b))
        np.testing.assert_allclose(sb, sa, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(sa).max()))
    for csv in sorted(p.name for p in (one / "predictions").glob("*.csv")):
        a, b = pd.read_csv(one / "predictions" / csv), pd.read_csv(two / "predictions" / csv)
        assert list(a.columns) == list(b.columns) and (a["ecg_id"] == b["ecg_id"]).all()
        logits = [c for c in a.columns if c.startswith("logit_")]
        scale = max(1.0, float(np.abs(a[logits].to_numpy()).max()))
        np.testing.assert_allclose(b[logits].to_numpy(), a[logits].to_numpy(), rtol=1e-3, atol=1e-3 * scale,
                                   err_msg=csv)
    # the per-epoch records agree, and rank 0 alone wrote them (no duplicated lines)
    ra = [json.loads(x) for x in (one / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert [(r["branch"], r["stage"], r["epoch"]) for r in ra] == [(r["branch"], r["stage"], r["epoch"]) for r in rb]
    np.testing.assert_allclose([r["train_loss"] for r in rb], [r["train_loss"] for r in ra], rtol=1e-3)
    assert (two / "summary.json").is_file()
    assert not list(two.rglob("*.tmp"))


def test_distributed_step_projection_and_gather_equal_one_process(excerpt_root, tmp_path):
    """One joint step on 7 ECGs (4 + 3 over two gloo ranks: DDP, global-batch batch norm, latent centring
    and dropout)
    leaves the weights and batch-norm statistics of one process; gathered logits and projection agree."""
    script = tmp_path / "step.py"
    script.write_text(STEP)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    tests = str(Path(__file__).parent)
    _run([sys.executable, str(script), tests, str(excerpt_root), str(tmp_path / "one.pt")], env)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
          tests, str(excerpt_root), str(tmp_path / "two.pt")], env)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    for name in ("rhythm", "morphology", "rhythm_rr"):
        a, b = one[name], two[name]
        assert a["state"].keys() == b["state"].keys()
        for key in a["state"]:
            torch.testing.assert_close(b["state"][key].double(), a["state"][key].double(), rtol=1e-4, atol=1e-6,
                                       msg=f"{name} {key}")
        assert a["logits"].shape == (50, len(a["logits"][0]))
        torch.testing.assert_close(b["logits"], a["logits"], rtol=1e-4, atol=1e-5)
        assert [s[:2] for s in a["sources"]] == [s[:2] for s in b["sources"]]
        np.testing.assert_allclose([s[2] or 0.0 for s in b["sources"]], [s[2] or 0.0 for s in a["sources"]],
                                   rtol=1e-4, atol=1e-5)


def test_helpers_on_one_process():
    assert not dist.is_distributed() and dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    assert dist.split_sizes(10, 3) == [4, 3, 3] and dist.split_sizes(2, 4) == [1, 1, 0, 0]
    assert dist.local_block(7) == (0, 7)
    batches = dist.epoch_batches(10, 4, seed=3)
    g = torch.Generator().manual_seed(3)
    expected = list(torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(range(10), generator=g), 4, False))
    assert [b.tolist() for b in batches] == expected          # the order the DataLoader path used
    index, offset, total = dist.shard_batch(batches[0])
    assert index.tolist() == batches[0].tolist() and offset == 0 and total == 4
    t = torch.arange(6.0).reshape(3, 2)
    assert dist.gather_rows(t) is t and torch.equal(dist.all_reduce_sum(t), t)
    assert dist.init_from_env("cpu") == "cpu" if int(os.environ.get("WORLD_SIZE", "1")) <= 1 else True
