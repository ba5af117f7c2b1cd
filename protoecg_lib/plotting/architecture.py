"""The architecture of ProtoECGNet as a diagram drawn from a model config (method §2, §6).

Nothing in the diagram is typed in by hand: :func:`architecture_summary` builds the model of a
preset (or any :class:`~protoecg_lib.models.ModelConfig`), runs one ECG of zeros through it and
reads every shape from the outputs and every count from the parameters; :func:`plot_architecture`
draws the input ``(B, 12, T)``, the three branches (backbone, add-on, prototypes, similarities),
the concatenated similarities, the fusion head and the 71 logits, with those numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ..labels import BRANCHES
from ..models import ModelConfig, ProtoECGNet, get_preset
from .style import house_style, new_figure

__all__ = ["BranchSummary", "ArchitectureSummary", "architecture_summary", "plot_architecture"]


@dataclass(frozen=True)
class BranchSummary:
    """Shapes (batch axis left out) and trainable parameter counts of one branch.

    Attributes
    ----------
    name, backbone : str
        Branch name and ``'1d'`` / ``'2d'``.
    num_classes, prototypes_per_class, num_prototypes, num_windows : int
        ``C``, ``m``, ``P = m C`` and ``W`` (windows per ECG; 1 for global prototypes).
    feature_shape : tuple of int
        Backbone output without the batch axis: ``(8w, L)`` (1D) or ``(8w, 1, L)`` (2D).
    latent_shape : tuple of int
        Add-on output: ``(D,)`` (1D, after averaging over time) or ``(D, 1, L)`` (2D).
    prototype_shape : tuple of int
        ``(P, D)`` or ``(P, D, 1, T)``.
    scale : float
        Similarity constant (1 for the cosine, 13 / 4 for the 2D scaled cosine).
    window_pool : str
        How window similarities are pooled (method §9.1 A1).
    backbone_params, add_on_params, prototype_params, last_layer_params : int
    """

    name: str
    backbone: str
    num_classes: int
    prototypes_per_class: int
    num_prototypes: int
    num_windows: int
    feature_shape: tuple[int, ...]
    latent_shape: tuple[int, ...]
    prototype_shape: tuple[int, ...]
    scale: float
    window_pool: str
    backbone_params: int
    add_on_params: int
    prototype_params: int
    last_layer_params: int

    @property
    def total_params(self) -> int:
        """All trainable parameters of the branch, its own last layer included (method §2.5)."""
        return self.backbone_params + self.add_on_params + self.prototype_params + self.last_layer_params


@dataclass(frozen=True)
class ArchitectureSummary:
    """The whole model: input, branches, fusion head and output.

    Attributes
    ----------
    preset : str
    num_samples : int
        ``T`` of the input ``(B, 12, T)``.
    branches : tuple of BranchSummary
        Rhythm, morphology, global.
    fusion_in, fusion_out : int
        Width of the concatenated similarities (1037 in the paper) and of the output (71).
    fusion_bias : bool
    fusion_params : int
    model_params : int
        The inference model: backbones, add-ons, prototypes and the fusion head (the branches' own
        last layers left out, method §2.5).
    """

    preset: str
    num_samples: int
    branches: tuple[BranchSummary, ...]
    fusion_in: int
    fusion_out: int
    fusion_bias: bool
    fusion_params: int
    model_params: int


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def architecture_summary(config: ModelConfig | str = "paper", num_samples: int = 1000) -> ArchitectureSummary:
    """Shapes and parameter counts of a model, measured on the model itself.

    Parameters
    ----------
    config : ModelConfig or str
        A config, or a preset name (``'paper'``, ``'fast'``).
    num_samples : int
        Input length ``T`` (1000 for 10 s at 100 Hz).

    Returns
    -------
    ArchitectureSummary
    """
    if isinstance(config, str):
        config = get_preset(config)
    if not isinstance(config, ModelConfig):
        raise TypeError(f"architecture_summary needs a ModelConfig or a preset name, got {type(config).__name__}")
    model = ProtoECGNet(config, load_pretrained=False).eval()
    out = model(torch.zeros(1, 12, int(num_samples)))               # one ECG (1, 12, T)
    branches = []
    for name in BRANCHES:
        b, o = model.branches[name], out.branches[name]
        branches.append(BranchSummary(
            name=name, backbone=b.config.backbone, num_classes=b.num_classes,
            prototypes_per_class=b.config.prototypes_per_class, num_prototypes=b.num_prototypes,
            num_windows=int(o.window_similarity.shape[-1]),
            feature_shape=tuple(b.backbone(torch.zeros(1, 12, int(num_samples))).shape[1:]),
            latent_shape=tuple(o.latent.shape[1:]), prototype_shape=tuple(b.prototype_shape),
            scale=float(b.prototype_layer.scale), window_pool=b.config.window_pool,
            backbone_params=_count(b.backbone), add_on_params=_count(b.add_on),
            prototype_params=b.prototype_layer.prototypes.numel(), last_layer_params=_count(b.last_layer)))
    return ArchitectureSummary(
        preset=config.name, num_samples=int(num_samples), branches=tuple(branches),
        fusion_in=model.fusion.in_features, fusion_out=int(out.logits.shape[1]),
        fusion_bias=model.fusion.bias is not None, fusion_params=_count(model.fusion),
        model_params=model.num_parameters())


def _shape(shape: tuple[int, ...]) -> str:
    return "(B, " + ", ".join(str(s) for s in shape) + ")"


def _box(ax, x, y, w, h, text, color, *, size=8.0, weight="normal", fill=0.12):
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.004,rounding_size=0.012", linewidth=1.0,
                           edgecolor=color, facecolor=(*to_rgb(color), fill))
    ax.add_patch(patch)
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, fontweight=weight,
            linespacing=1.35)
    return patch


def _arrow(ax, x0, y0, x1, y1, color="0.3"):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="-|>", color=color, lw=1.0, shrinkA=0, shrinkB=0))


def _branch_texts(s: BranchSummary) -> tuple[str, str, str, str]:
    if s.backbone == "1d":
        backbone = (f"ResNet-18, 1D\n12 leads as channels\n{_shape(s.feature_shape)}"
                    f" → mean over time\n{s.backbone_params:,} parameters")
        add_on = f"add-on\n2 × Linear, ReLU, sigmoid\n{_shape(s.latent_shape)}\n{s.add_on_params:,} parameters"
        kind = "global vectors\ncosine"
    else:
        backbone = (f"ResNet-18, 2D\nstem kernel 12 × 7 over all leads\n{_shape(s.feature_shape)}"
                    f"\n{s.backbone_params:,} parameters")
        add_on = f"add-on\n2 × 1×1 conv, ReLU, sigmoid\n{_shape(s.latent_shape)}\n{s.add_on_params:,} parameters"
        length = s.prototype_shape[-1]
        kind = (f"T = {length} latent steps\nscaled cosine ×{s.scale:g}" if s.num_windows > 1
                else f"whole record, T = {length}\nscaled cosine ×{s.scale:g}")
    protos = (f"{s.num_prototypes} prototypes\n{s.prototypes_per_class} per label × {s.num_classes} labels\n"
              f"shape {tuple(s.prototype_shape)}\n{kind}\n{s.prototype_params:,} parameters")
    if s.num_windows > 1:
        sims = (f"similarities\n{_shape((s.num_prototypes, s.num_windows))}\n{s.window_pool} over "
                f"{s.num_windows} windows\n→ {_shape((s.num_prototypes,))}")
    else:
        sims = f"similarities\n{_shape((s.num_prototypes,))}\n(one window)"
    return backbone, add_on, protos, sims


def plot_architecture(config: ModelConfig | str | ArchitectureSummary = "paper", num_samples: int = 1000, *,
                      title: str | None = None, figsize: tuple[float, float] = (9.0, 11.0)) -> Figure:
    """Diagram of ProtoECGNet with the real shapes and parameter counts of ``config``.

    Top to bottom: the input, the three branches side by side (backbone, add-on, prototypes,
    similarities), the concatenated similarities, the fusion head and the logits. Portrait, so
    that it stays readable at the width of a book column.

    Parameters
    ----------
    config : ModelConfig, str or ArchitectureSummary
        A config, a preset name (``'paper'``, ``'fast'``) or an already computed summary.
    num_samples : int
        Input length ``T`` (ignored for a summary).
    title : str, optional
    figsize : (float, float)

    Returns
    -------
    Figure
        One axes without ticks; every number drawn comes from :func:`architecture_summary`
        (``fig._protoecg_summary`` holds it).
    """
    summary = config if isinstance(config, ArchitectureSummary) else architecture_summary(config, num_samples)
    with house_style() as style:
        fig = new_figure(figsize)
        ax = fig.add_axes((0.0, 0.0, 1.0, 0.955))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
        grey = style.other_color
        in_w, in_h, in_y = 0.40, 0.055, 0.935
        _box(ax, 0.5 - in_w / 2, in_y, in_w, in_h,
             f"ECG {_shape((12, summary.num_samples))}, float32 in mV, 12 leads", grey, size=8.5)
        gap = 0.02
        col_w = (1 - 4 * gap) / 3
        xs = [gap + k * (col_w + gap) for k in range(3)]
        box_h, step = 0.118, 0.145
        top = 0.682                                      # bottom edge of the first box of a column
        for s, x in zip(summary.branches, xs):
            color = style.branch_color(s.name)
            ax.text(x + col_w / 2, top + box_h + 0.047, f"{s.name} branch", fontsize=10, fontweight="bold",
                    color=color, ha="center", va="bottom")
            ax.text(x + col_w / 2, top + box_h + 0.012,
                    f"{s.num_classes} labels, {s.total_params:,} parameters\n(own last layer "
                    f"{s.num_prototypes} → {s.num_classes}: {s.last_layer_params:,}; unused by the fusion)",
                    fontsize=7.4, color="0.3", ha="center", va="bottom", linespacing=1.3)
            _arrow(ax, 0.5, in_y, x + col_w / 2, top + box_h + 0.078, color=grey)
            for k, text in enumerate(_branch_texts(s)):
                y = top - k * step
                _box(ax, x, y, col_w, box_h, text, color, size=8.6)
                if k:
                    _arrow(ax, x + col_w / 2, y + step, x + col_w / 2, y + box_h)
        last = top - 3 * step                            # bottom edge of the similarity boxes
        cat_y, cat_h = last - 0.09, 0.062
        sizes = " + ".join(str(s.num_prototypes) for s in summary.branches)
        _box(ax, 0.2, cat_y, 0.6, cat_h, f"concatenate: {sizes} = {summary.fusion_in} similarities "
             f"{_shape((summary.fusion_in,))}", grey, size=8.5)
        for x in xs:
            _arrow(ax, x + col_w / 2, last, min(max(x + col_w / 2, 0.25), 0.75), cat_y + cat_h)
        bias = "with bias" if summary.fusion_bias else "no bias"
        fus_y, fus_h = cat_y - 0.095, 0.07
        _box(ax, 0.06, fus_y, 0.5, fus_h, f"fusion: Linear({summary.fusion_in} → {summary.fusion_out}), {bias}\n"
             f"{summary.fusion_params:,} parameters", "#000000", size=8.5, fill=0.06)
        _box(ax, 0.64, fus_y, 0.30, fus_h, f"{summary.fusion_out} logits {_shape((summary.fusion_out,))}\n"
             "→ sigmoid → probabilities", "#000000", size=8.5, fill=0.06)
        _arrow(ax, 0.5, cat_y, 0.31, fus_y + fus_h)
        _arrow(ax, 0.56, fus_y + fus_h / 2, 0.64, fus_y + fus_h / 2)
        fig.suptitle(title or (f"ProtoECGNet, {summary.preset} preset: {summary.model_params:,} parameters\n"
                               "(backbones, add-ons, prototypes and fusion head)"), x=0.02, y=0.995, ha="left",
                     va="top")
    fig._protoecg_summary = summary
    return fig
