"""Prototype projection (method §5): prototype sources, maximum similarity at the source, unprojectable classes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from protoecg_lib.data import load_ptbxl
from protoecg_lib.runs import load_prototype_sources, save_prototype_sources, source_summary
from protoecg_lib.training.projection import project_prototypes, source_similarities

from conftest import tiny_branch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ds(excerpt_root):
    return load_ptbxl(excerpt_root)


@pytest.mark.parametrize("name, maximum", [("rhythm", 1.0), ("morphology", 13.0), ("global", 4.0)])
def test_projection_provenance_and_max_similarity(ds, name, maximum, tmp_path):
    branch = tiny_branch(name).eval()
    split = ds.split("train", name).head(64)
    prov = project_prototypes(branch, split, batch_size=16)
    assert len(prov) == branch.num_prototypes
    row_of = {int(e): i for i, e in enumerate(split.ecg_id)}
    for p in prov:
        c = p.class_index
        assert p.label == branch.labels[c]
        if split.targets[:, c].sum() == 0:
            assert not p.projected and "no positive" in p.reason
            continue
        assert p.projected
        # the source is a training ECG that carries the prototype's class
        assert split.targets[row_of[p.ecg_id], c] == 1
        assert p.label in p.source_labels
        assert p.source_labels == tuple(ds.records.loc[p.ecg_id, "codes"]), "all the record's codes"
        # a valid sample span inside the record
        assert 0 <= p.start_sample and p.start_sample + p.length_samples <= 1000
        assert p.length_samples == {"rhythm": 1000, "morphology": 93, "global": 1000}[name]
    sims = source_similarities(branch, split, prov)
    projected = np.array([p.projected for p in prov])
    np.testing.assert_allclose(sims[projected], maximum, rtol=1e-4)
    # the recorded score is the best window's similarity before the replacement
    assert all(p.similarity <= maximum + 1e-4 for p in prov if p.projected)
    path = save_prototype_sources(prov, tmp_path / "p.json")
    assert load_prototype_sources(path) == prov
    s = source_summary(prov)
    assert s["projected"] == projected.sum() and s["prototypes"] == len(prov)


def test_projection_is_best_over_candidates(ds):
    """Brute force: for one prototype, the chosen window is the argmax over all eligible ECG windows."""
    branch = tiny_branch("morphology").eval()
    split = ds.split("train", "morphology").head(40)
    with torch.no_grad():
        ws = branch(torch.as_tensor(split.signals)).window_similarity  # (N, P, W) before projection
    prov = project_prototypes(branch, split, batch_size=7)  # odd batch size: crosses batch boundaries
    for p in prov:
        if not p.projected:
            continue
        j, c = p.index, p.class_index
        rows = np.flatnonzero(split.targets[:, c] == 1)
        scores = ws[rows, j]                                    # (n, W)
        best = float(scores.max())
        assert p.similarity == pytest.approx(best, rel=1e-5)
        row, w = divmod(int(scores.flatten().argmax()), scores.shape[1])
        assert (p.ecg_id, p.window_index) == (int(split.ecg_id[rows[row]]), w)


def test_duplicates_reported(ds):
    branch = tiny_branch("global").eval()
    with torch.no_grad():  # two identical NORM prototypes (indices 2, 3) must land on the same ECG window
        branch.prototype_layer.prototypes[3] = branch.prototype_layer.prototypes[2]
    split = ds.split("train", "global").head(32)
    assert split.targets[:, 1].sum() > 0  # NORM occurs
    prov = project_prototypes(branch, split)
    assert prov[3].duplicate_of == 2 and prov[2].duplicate_of is None
    assert (2, 3) in source_summary(prov)["duplicate_pairs"]


def test_projection_needs_branch_label_set(ds):
    with pytest.raises(ValueError, match="label set"):
        project_prototypes(tiny_branch("global"), ds.split("train", "rhythm"))
