"""Render the figures the book's markdown pages show (they have no code cells to draw them).

Usage: python book/make_figures.py OUT_DIR   (book/build.sh writes into the staged copy's book/figures)
Writes architecture_paper.png and architecture_fast.png: :func:`protoecg_lib.plotting.plot_architecture`
of each preset, every shape and count measured on the model itself; and results_runs.md / results_auroc.md, the tables of
the results page rendered from the committed run records in book/data/results
(:func:`protoecg_lib.runs.results.results_table`).
"""
from __future__ import annotations

import sys
from pathlib import Path

from protoecg_lib.plotting import plot_architecture
from protoecg_lib.runs.results import load_result_records, results_table

RECORDS = Path(__file__).parent / "data" / "results"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python book/make_figures.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for preset in ("paper", "fast"):
        path = out / f"architecture_{preset}.png"
        plot_architecture(preset).savefig(path, dpi=120, facecolor="white")
        print(f"make_figures: {path}")
    records = load_result_records(RECORDS)
    for what in ("runs", "auroc"):
        table = out / f"results_{what}.md"
        table.write_text(results_table(records, what))
        print(f"make_figures: {table} ({len(records)} run records)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
