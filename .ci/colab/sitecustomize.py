"""Imported at start-up by every Python with this folder on ``PYTHONPATH``: the kernel then looks like
Colab's, which has ``google.colab`` imported (see ``google/colab/__init__.py``)."""
import google.colab  # noqa: F401
