"""Sphinx extension of the book: the chapters' "Open in Colab" badge is served from the book itself.

Each chapter starts with Colab's badge, an SVG on colab.research.google.com. Offline (CI, a laptop, a
downloaded copy of the site) that image cannot load and the page shows a broken image. This
extension points every image node whose URI is Colab's badge at ``book/images/open-in-colab.svg``,
drawn for this book, before Sphinx collects the images, so the builder copies it like any other
local image. The link around the badge (to the notebook on Colab) is left as it is.
"""
from __future__ import annotations

from docutils import nodes

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "/book/images/open-in-colab.svg"   # relative to the source root


def localise_badges(app, doctree) -> None:
    for node in doctree.findall(nodes.image):
        if node.get("uri") == COLAB_BADGE:
            node["uri"] = LOCAL_BADGE
            if "candidates" in node.attributes:
                del node["candidates"]


def setup(app):
    # before sphinx's image collector (doctree-read, priority 500) decides the image is remote
    app.connect("doctree-read", localise_badges, priority=100)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
