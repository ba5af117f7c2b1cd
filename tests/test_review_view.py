"""The review chapter's helpers: chance tail probability, hit-vs-chance and deletion-example figures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from protoecg_lib.evaluation.deletion import neutralize
from protoecg_lib.plotting.quality import plot_deletion_example


def _ecg():
    rng = np.random.default_rng(0)
    t = np.arange(1000) / 100
    return (np.sin(2 * np.pi * 1.2 * t)[None, :] + 0.05 * rng.standard_normal((12, 1000))).astype(np.float32)


def test_plot_deletion_example_draws_the_three_versions():
    x = _ecg()
    fig = plot_deletion_example(x, 100, (200, 93), (600, 93), lead="V1", evidence=[(2.1, 2.5)])
    axes = fig.axes
    assert len(axes) == 3
    for ax in axes:
        gids = {p.get_gid() for p in ax.patches}
        assert {"top-window", "random-window"} <= gids
    # the black line of each panel is the lead after (or without) the deletion
    row = 6                                                                      # V1
    expected = [x[row], neutralize(x, 200, 93)[row], neutralize(x, 600, 93)[row]]
    for ax, want in zip(axes, expected):
        np.testing.assert_allclose(ax.lines[-1].get_ydata() if ax is not axes[0] else
                                   [ln for ln in ax.lines if ln.get_gid() != "evidence"][-1].get_ydata(), want)
    assert any(ln.get_gid() == "evidence" for ln in axes[0].lines)
    # the deleted window is a straight line between its neighbours
    mid = axes[1].lines[-1].get_ydata()[200:293]
    assert np.allclose(np.diff(mid, 2), 0, atol=1e-5)


def test_plot_deletion_example_rejects_bad_input():
    x = _ecg()
    with pytest.raises(ValueError, match="lead"):
        plot_deletion_example(x, 100, (0, 93), (500, 93), lead="V7")
    with pytest.raises(ValueError, match="12-lead"):
        plot_deletion_example(x[:3], 100, (0, 93), (500, 93))
    with pytest.raises(ValueError, match="does not fit"):
        plot_deletion_example(x, 100, (950, 93), (500, 93))


def test_chance_tail_probability_matches_enumeration():
    import itertools

    import pandas as pd

    from protoecg_lib.evaluation.localisation import chance_tail_probability

    chance = [0.2, 0.5, 0.9, 0.3]
    for observed in range(5):
        hits = pd.DataFrame({"chance": chance, "hit": [True] * observed + [False] * (4 - observed)})
        want = 0.0
        for outcome in itertools.product([0, 1], repeat=4):
            if sum(outcome) >= observed:
                want += np.prod([p if o else 1 - p for p, o in zip(chance, outcome)])
        assert np.isclose(chance_tail_probability(hits), want)
    assert chance_tail_probability(pd.DataFrame({"chance": [], "hit": []})) == 1.0
    # all hits on certain evidence: no surprise at all; all hits on rare evidence: very surprising
    assert chance_tail_probability(pd.DataFrame({"chance": [1.0] * 5, "hit": [True] * 5})) == pytest.approx(1.0)
    assert chance_tail_probability(pd.DataFrame({"chance": [0.1] * 5, "hit": [True] * 5})) == pytest.approx(1e-5)


def _summary():
    import pandas as pd

    return pd.DataFrame({"pairs": [10, 4, 14], "prototypes": [3, 2, 5], "ecgs": [5, 2, 7], "hits": [9, 3, 12],
                         "hit_rate": [0.9, 0.75, 12 / 14], "chance_rate": [0.95, 0.3, 0.76],
                         "expected_hits": [9.5, 1.2, 10.7], "lift": [0.947, 2.5, 1.13]},
                        index=pd.Index(["LVH", "PVC", "all"], name="label"))


def test_plot_hit_vs_chance_points_and_labels():
    from protoecg_lib.plotting.quality import plot_hit_vs_chance

    fig = plot_hit_vs_chance(_summary(), annotate_below=0.9)
    (ax,) = fig.axes
    pts = next(c for c in ax.collections if c.get_gid() == "labels")
    np.testing.assert_allclose(pts.get_offsets(), [[0.95, 0.9], [0.3, 0.75]])
    assert any(c.get_gid() == "all" for c in ax.collections)
    assert [t.get_text() for t in ax.texts] == ["PVC (4)"]                       # only the informative label
    with pytest.raises(ValueError, match="no label rows"):
        plot_hit_vs_chance(_summary().loc[["all"]])
