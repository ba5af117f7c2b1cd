"""A split's signals are a read-only memory map: every library path that hands them to torch copies
them first, so torch never warns about a non-writable NumPy array (chapter 4 once printed that
warning to stderr). torch warns only once per process, so the check runs in a fresh interpreter."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHECK = textwrap.dedent("""
    import warnings
    import numpy as np
    import torch
    warnings.simplefilter("error")                 # the non-writable-array UserWarning becomes an error
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", module="wfdb")
    from protoecg_lib.data import load_ptbxl
    from protoecg_lib.data.torchdata import SplitDataset, as_batch, gather_rows
    from protoecg_lib.evaluation.diagnostics import _branch_outputs
    from protoecg_lib.evaluation.receptive_field import effective_profiles
    from protoecg_lib.models import BranchConfig, ProtoBranch
    from protoecg_lib.synthetic import synthetic_root
    from protoecg_lib.teaching.anatomy import pooled_similarities
    from protoecg_lib.teaching.latent_maps import branch_latents
    from protoecg_lib.training.heads import branch_features, predict_logits

    split = load_ptbxl(synthetic_root("tiny")).split("train", "morphology")
    signals = split.signals
    assert isinstance(signals, np.memmap) and not signals.flags.writeable, type(signals)
    torch.manual_seed(0)
    branch = ProtoBranch(BranchConfig("morphology", "2d", prototypes_per_class=1, prototype_length=3, proto_dim=8,
                                      base_width=4, similarity_scale=13.0)).eval()
    as_batch(signals[:4])
    torch.from_numpy(gather_rows(signals, np.array([3, 1, 2])))
    SplitDataset(split)[[0, 2]]
    predict_logits(lambda x: branch(x).logits, signals, batch_size=8)
    branch_features(branch, signals, batch_size=8)
    pooled_similarities(branch, signals[:8])
    branch_latents(branch, signals[:8])
    _branch_outputs(branch, signals[:8])
    effective_profiles(branch, signals[:2], steps=[1])
    print("no warning")
""")


def test_read_only_signals_reach_torch_without_a_warning(tmp_path):
    env = {**os.environ, "PROTOECG_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "no warning" in done.stdout, done.stderr[-3000:]
    assert "not writable" not in done.stderr
