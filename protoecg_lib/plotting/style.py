"""The one house style of every protoecg figure, ECG-paper settings and figure creation.

Every public plotting function builds its figure inside :func:`house_style` and through
:func:`new_figure`, so notebooks never set a style themselves (conventions, item 4). Figures are
plain :class:`matplotlib.figure.Figure` objects with an Agg canvas: they are never registered with
``pyplot`` (no ``plt.show``, nothing left open, nothing displayed twice in a notebook), render
with the non-interactive Agg backend anywhere, and display in Jupyter when they are a cell's value
(see :func:`enable_notebook_display`).
"""
from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["HouseStyle", "EcgPaper", "house_style", "new_figure", "enable_notebook_display", "category_styles",
           "EXTRA_COLORS", "CATEGORY_MARKERS"]

#: Colours after the house palette for figures with more categories than it has (Paul Tol's "muted").
EXTRA_COLORS = ("#332288", "#88CCEE", "#117733", "#999933", "#CC6677", "#882255", "#44AA99", "#AA4499")
#: Point markers: a category whose colour an earlier category already has takes the next one.
CATEGORY_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


@dataclass(frozen=True)
class HouseStyle:
    """Fonts, palette and colours shared by all figures.

    The palette is Okabe-Ito (colour-blind safe); ``branch_colors`` gives every ProtoECGNet branch
    (method §2) one colour used wherever branches are compared.
    """

    font_size: float = 9.0
    palette: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
                                "#56B4E9", "#F0E442", "#000000")
    branch_colors: tuple[tuple[str, str], ...] = (
        ("rhythm", "#0072B2"), ("morphology", "#E69F00"), ("global", "#009E73"))
    other_color: str = "#999999"
    dpi: int = 100

    def branch_color(self, branch: str) -> str:
        """Colour of a branch name; ``other_color`` for anything else."""
        return dict(self.branch_colors).get(branch, self.other_color)

    def rc(self) -> dict:
        """The matplotlib rcParams of the house style."""
        s = self.font_size
        return {
            "font.family": "DejaVu Sans",
            "font.size": s,
            "axes.titlesize": s + 1,
            "axes.labelsize": s,
            "xtick.labelsize": s - 1,
            "ytick.labelsize": s - 1,
            "legend.fontsize": s - 1,
            "legend.frameon": False,
            "figure.titlesize": s + 2,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.linewidth": 0.8,
            "axes.grid": False,
            "axes.prop_cycle": mpl.cycler(color=list(self.palette)),
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "lines.linewidth": 1.2,
            "patch.linewidth": 0.5,
            "image.cmap": "viridis",
        }


@dataclass(frozen=True)
class EcgPaper:
    """ECG paper of the print layout (method §7.3): speed, gain, grid and trace.

    At 25 mm/s and 10 mm/mV one 1-mm minor square is 0.04 s by 0.1 mV and one 5-mm major square
    0.2 s by 0.5 mV. ``aspect`` (mV-to-seconds display ratio) keeps 1 mm on the page equal in both
    directions. ``row_spacing_mv`` is the distance between the baselines of the print rows
    (50 mm); ``margin_s`` is the paper left of the traces where the calibration pulse sits.
    """

    mm_per_s: float = 25.0
    mm_per_mv: float = 10.0
    row_spacing_mv: float = 5.0
    margin_s: float = 0.4
    minor_color: str = "#f6c4c4"
    major_color: str = "#e06c6c"
    minor_linewidth: float = 0.3
    major_linewidth: float = 0.6
    trace_color: str = "black"
    trace_linewidth: float = 0.7
    calibration: bool = True

    def __post_init__(self) -> None:
        for name in ("mm_per_s", "mm_per_mv", "row_spacing_mv"):
            if not getattr(self, name) > 0:
                raise ValueError(f"EcgPaper.{name} must be > 0; got {getattr(self, name)!r}")
        if self.margin_s < 0:
            raise ValueError(f"EcgPaper.margin_s must be >= 0; got {self.margin_s!r}")

    @property
    def minor_s(self) -> float:
        """Seconds per 1-mm square (0.04 s at 25 mm/s)."""
        return 1.0 / self.mm_per_s

    @property
    def minor_mv(self) -> float:
        """Millivolts per 1-mm square (0.1 mV at 10 mm/mV)."""
        return 1.0 / self.mm_per_mv

    @property
    def aspect(self) -> float:
        """Axes aspect (display length of 1 mV over that of 1 s) for true page proportions."""
        return self.mm_per_mv / self.mm_per_s


def category_styles(categories, colors=None, style: HouseStyle | None = None) -> dict:
    """A ``(colour, marker)`` pair for every category, no two categories alike.

    Categories named in ``colors`` (a mapping category -> colour) keep their colour; the others take
    the house palette's colours, then :data:`EXTRA_COLORS`, in order, skipping colours already given.
    Only when colours must repeat (more categories than colours, or ``colors`` gives one colour
    twice) does the marker tell them apart: the first category of a colour gets ``"o"``, the next
    one ``"s"``, and so on (:data:`CATEGORY_MARKERS`).
    """
    style = style or HouseStyle()
    fixed = dict(colors or {})
    cats = list(dict.fromkeys(categories))
    taken = {str(c).lower() for c in fixed.values()}
    free = [c for c in (*style.palette, *EXTRA_COLORS) if c.lower() not in taken] or list(style.palette)
    out, uses, k = {}, {}, 0
    for cat in cats:
        if cat in fixed:
            color = fixed[cat]
        else:
            color, k = free[k % len(free)], k + 1
        n = uses.get(str(color).lower(), 0)
        uses[str(color).lower()] = n + 1
        out[cat] = (color, CATEGORY_MARKERS[n % len(CATEGORY_MARKERS)])
    return out


@contextmanager
def house_style(style: HouseStyle | None = None) -> Iterator[HouseStyle]:
    """Context in which figures are built with the house rcParams; yields the style."""
    style = style or HouseStyle()
    with mpl.rc_context(style.rc()):
        yield style


def new_figure(figsize: tuple[float, float], style: HouseStyle | None = None) -> Figure:
    """A pyplot-free Figure with an Agg canvas (call inside :func:`house_style`)."""
    style = style or HouseStyle()
    w, h = float(figsize[0]), float(figsize[1])
    if not (w > 0 and h > 0):
        raise ValueError(f"figsize must be two positive numbers (inches); got {figsize!r}")
    fig = Figure(figsize=(w, h), dpi=style.dpi)
    FigureCanvasAgg(fig)
    return fig


def _figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def enable_notebook_display() -> bool:
    """Let IPython show a returned Figure as a PNG (once), even if pyplot was never imported.

    Jupyter's inline backend registers this display hook only when pyplot creates a figure;
    protoecg figures bypass pyplot, so the library registers the same hook itself when it runs
    inside IPython. An already registered hook is kept. Returns True when a hook is in place.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to do
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
    except KeyError:
        png.for_type(Figure, _figure_png)
    return True
