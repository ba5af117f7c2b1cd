"""Figures of protoecg: every function returns a matplotlib Figure in the one house style.

* ECGs on paper (method §7.3, §5): :func:`plot_ecg` (12-lead print layout with highlights),
  :func:`plot_ecg_pair` (explanation layout), :func:`plot_lead_strip`, :func:`plot_segment`,
  with :class:`Highlight` bands and :class:`EcgPaper` settings.
* The model: :func:`plot_architecture` (shapes and counts measured on a preset's model).
* Prototypes: :func:`plot_prototype_gallery`, :func:`plot_similarity_hist`, :func:`plot_latent_2d`.
* Beat timing (the rhythm branch's RR intervals): :func:`plot_beat_timing`; calibrated
  probabilities: :func:`plot_calibration`.
* Data, training and evaluation: :func:`plot_label_frequencies`, :func:`plot_cooccurrence`,
  :func:`plot_frequency_response`, :func:`plot_training_curves`, :func:`plot_auroc_bars`.

Figures are built without pyplot (:func:`~protoecg_lib.plotting.style.new_figure`): nothing is
shown or left open, any backend works (Agg included), ``fig.savefig`` writes files, and a Figure
that ends a notebook cell is displayed once (the library registers IPython's PNG display hook for
Figures on import, see :func:`enable_notebook_display`).

How tests find panels and highlight bands on an ECG page: :mod:`protoecg_lib.plotting.ecg_grid`.
"""
from .architecture import architecture_summary, plot_architecture
from .beats import plot_beat_timing
from .calibration import plot_calibration
from .ecg import plot_ecg, plot_ecg_pair
from .data import plot_cooccurrence, plot_frequency_response, plot_label_frequencies
from .evaluation import plot_auroc_bars
from .training import plot_training_curves, read_metrics
from .ecg_grid import LAYOUT, Highlight, check_signals
from .prototypes import (lead_with_most_energy, plot_latent_2d, plot_prototype_gallery, plot_similarity_hist,
                         prototype_window_s, relevant_lead)
from .strips import plot_lead_strip, plot_segment
from .style import EcgPaper, HouseStyle, enable_notebook_display, house_style, new_figure

__all__ = [
    "plot_architecture", "architecture_summary",
    "plot_ecg", "plot_ecg_pair", "plot_beat_timing", "plot_lead_strip", "plot_segment", "Highlight", "LAYOUT", "EcgPaper",
    "check_signals", "plot_prototype_gallery", "plot_similarity_hist", "plot_latent_2d", "prototype_window_s",
    "relevant_lead", "lead_with_most_energy", "plot_cooccurrence", "plot_frequency_response", "plot_training_curves", "read_metrics",
    "plot_auroc_bars", "plot_calibration", "plot_label_frequencies", "HouseStyle", "house_style", "new_figure", "enable_notebook_display",
]

enable_notebook_display()
