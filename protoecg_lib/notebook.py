"""Deprecated location (0.1): the chapter set-up moved to :mod:`protoecg_lib.teaching` in 0.2; this
alias goes in 0.3."""
import warnings

from .teaching.chapter import ChapterContext, in_colab, setup_chapter  # noqa: F401

warnings.warn("protoecg_lib.notebook moved to protoecg_lib.teaching (from protoecg_lib.teaching import "
              "setup_chapter); this alias is removed in 0.3", FutureWarning, stacklevel=2)
