"""A stand-in for Colab's ``google.colab`` package, for the simulated-Colab step of CI (``.ci/colab.sh``).

On Colab the kernel imports ``google.colab`` at start-up; ``protoecg_lib.teaching.chapter.in_colab``
looks for it in ``sys.modules``. This stand-in is imported by the ``sitecustomize`` beside it, so a
kernel started with this folder on ``PYTHONPATH`` looks like a Colab kernel. Only what the library
uses is here: :func:`drive.mount`.
"""
from . import drive  # noqa: F401

__all__ = ["drive"]
