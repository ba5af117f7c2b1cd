"""Helpers only the book's chapters use, on top of the core: a chapter's set-up, layer walk-throughs,
latent maps, toy loss landscapes, and views that make a run's evaluation and explanations readable.

Each module serves the chapters named in its docstring and is tested like the core; nothing in the
core imports from here. Figures live in :mod:`protoecg_lib.plotting`.
"""
from .chapter import ChapterContext, in_colab, setup_chapter

__all__ = ["ChapterContext", "setup_chapter", "in_colab"]
