"""The architecture diagram: every number it draws is the model's own (method §2.5, §6, §11 item 9)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from protoecg_lib.labels import BRANCHES  # noqa: E402
from protoecg_lib.models import ProtoECGNet, get_preset  # noqa: E402
from protoecg_lib.plotting.architecture import architecture_summary, plot_architecture  # noqa: E402


def figure_text(fig: Figure) -> str:
    texts = [t.get_text() for t in fig.findobj(Text)]
    return "\n".join(texts) + "\n" + (fig._suptitle.get_text() if fig._suptitle else "")


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("preset", ["paper", "fast"])
def test_figure_numbers_are_the_models(preset):
    fig = plot_architecture(preset)
    text = figure_text(fig)
    model = ProtoECGNet(get_preset(preset), load_pretrained=False).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 12, 1000))
    for name in BRANCHES:
        branch, o = model.branches[name], out.branches[name]
        for n in (count(branch.backbone), count(branch.add_on), branch.prototype_layer.prototypes.numel()):
            assert f"{n:,} parameters" in text, (name, n)
        assert f"{branch.num_classes} labels, {count(branch):,} parameters" in text      # whole branch
        assert f"{branch.num_prototypes} prototypes" in text
        assert f"({branch.num_prototypes}, " in text                       # prototype shape
        if o.window_similarity.shape[-1] > 1:
            assert f"(B, {branch.num_prototypes}, {o.window_similarity.shape[-1]})" in text
        assert f"(B, {', '.join(map(str, o.latent.shape[1:]))})" in text
    width = sum(b.num_prototypes for b in model.branches.values())
    assert f"= {width}" in text and f"{width} → 71" in text and "(B, 71)" in text
    assert f"{count(model.fusion):,}" in text
    assert f"{model.num_parameters():,} parameters" in text
    assert "(B, 12, 1000)" in text


def test_paper_preset_matches_the_spec():
    s = architecture_summary("paper")
    assert [b.num_prototypes for b in s.branches] == [80, 936, 21]
    assert [b.total_params for b in s.branches] == [4_416_384, 13_184_160, 12_041_919]   # method §2.5
    assert (s.fusion_in, s.fusion_out, s.fusion_params, s.model_params) == (1037, 71, 73_698, 29_666_146)
    assert [b.num_windows for b in s.branches] == [1, 30, 1]
    assert [b.scale for b in s.branches] == [1.0, 13.0, 4.0]
    text = figure_text(plot_architecture(s))
    assert "29,666,146" in text and "80 + 936 + 21" in text


def test_other_length_and_bad_input():
    s = architecture_summary("fast", num_samples=5000)                  # 500 Hz: 157 latent steps
    assert s.branches[1].num_windows == 157 - 3 + 1
    assert s.branches[1].latent_shape[-1] == 157
    with pytest.raises(ValueError, match="unknown model preset"):
        architecture_summary("huge")
    with pytest.raises(TypeError, match="ModelConfig"):
        architecture_summary(3)
