"""Figures and messages inside ``widgets.Output``: set as display data, so an app's first state is
in place without a running kernel (and is saved with the widget state)."""
from __future__ import annotations

import base64
import html
import io

import pandas as pd

__all__ = ["figure_output", "show_figure", "show_message", "table_html"]


def figure_output(fig, dpi: int = 80) -> dict:
    """A Figure as one Jupyter ``display_data`` output (PNG), for ``widgets.Output.outputs``.

    Setting the outputs directly (instead of ``with out: display(fig)``) needs no running kernel, so
    an app's first figure is in place as soon as it is built (and is saved with the widget state).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": data, "text/plain": "<Figure>"}}


def show_figure(out, fig, dpi: int = 80) -> None:
    out.outputs = (figure_output(fig, dpi),)


def show_message(out, text: str) -> None:
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"text/plain": text, "text/html": f"<p><i>{html.escape(text)}</i></p>"}},)


def table_html(df: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(c)}</b></td><td>{html.escape(r['branch'])}</td><td>{r['probability']:.3f}</td>"
        f"<td>{'yes' if r['predicted'] else ''}</td><td>{'yes' if r['true'] else ''}</td></tr>"
        for c, r in df.iterrows())
    head = "<tr><th>label</th><th>branch</th><th>probability</th><th>predicted</th><th>true</th></tr>"
    return f"<table style='border-collapse:collapse' cellpadding='3'>{head}{rows}</table>"
