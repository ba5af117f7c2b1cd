"""The full-size measurements behind book/data/evidence_quality.json (chapter 10b), end to end.

    python benchmarks/evidence_measurements.py --work DIR [--seeds 42 1 2 3 4] [--assemble-only]

Steps (each skipped when its output exists, so the script resumes):

1. ``protoecg data synth --root DIR/sparse1500 --num-records 1500 --seed 0 --evidence sparse``;
2. ``protoecg pipeline --root DIR/sparse1500 --preset fast --out DIR/run_std`` (seed 42, baseline included);
3. per seed: the standard and the local-prototype morphology branch (``pipeline_config('fast',
   baseline=False, local_windows=..., seed=S)``) with the rhythm and global branches copied from the
   seed-42 run (seed 42: the local variant only), into ``DIR/seed<S>_<std|local>``;
4. ``protoecg quality --json`` on the test fold of every run (all four methods for seed 42, and its
   validation fold too; window, gradient and ig for the other seeds);
5. the JSON the book reads, with the commit and the date (``--out``, default book/data/evidence_quality.json).

About an hour of CPU per seed pair on two busy cores. The numbers in the repository were produced by
these steps, run as separate commands on 2026-12-04 (see the file's provenance block).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], out: Path | None = None) -> None:
    print("$", " ".join(cmd), flush=True)
    if out is None:
        subprocess.run(cmd, check=True)
    else:
        with open(out, "w") as f:
            subprocess.run(cmd, check=True, stdout=f)


def _variant(root: Path, std: Path, out: Path, seed: int, local: bool) -> None:
    import torch

    from protoecg_lib.training.config import pipeline_config
    from protoecg_lib.training.pipeline import run_pipeline

    if (out / "summary.json").exists():
        return
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("rhythm", "global"):
        if not (out / name).exists():
            shutil.copytree(std / name, out / name)
    (out / "predictions").mkdir(exist_ok=True)
    for name in ("rhythm", "global"):
        for split in ("val", "test"):
            shutil.copy(std / "predictions" / f"{split}_{name}.csv", out / "predictions" / f"{split}_{name}.csv")
    run_pipeline(root, out=out, config=pipeline_config("fast", baseline=False, local_windows=local, seed=seed),
                 verbose=False)


def _quality(run: Path, out: Path, split: str = "test", methods=None) -> None:
    if out.exists() and out.stat().st_size > 0:
        return
    cmd = [sys.executable, "-m", "protoecg_lib", "quality", "--run", str(run), "--split", split, "--json"]
    _run(cmd + (["--methods", *methods] if methods else []), out)


def _auroc(run: Path) -> tuple[float, float]:
    s = json.loads((run / "summary.json").read_text())
    return s["fusion"]["macro_auroc"]["point"], s["branches"]["morphology"]["macro_auroc"]["point"]


def assemble(work: Path, seeds: list[int], out: Path, commit: str, date: str) -> dict:
    """The book's JSON from the runs and quality files under ``work``."""
    def report(name):
        d = json.loads((work / name).read_text())
        return {k: d[k] for k in ("split", "evidence", "labels", "local_windows", "localisation",
                                  "localisation_by_label", "deletion")}

    runs = {s: (work / "run_std" if s == 42 else work / f"seed{s}_std", work / f"seed{s}_local") for s in seeds}
    auc_rows, seed_rows = [], []
    for s, (std, loc) in runs.items():
        (fs, ms), (fl, ml) = _auroc(std), _auroc(loc)
        auc_rows.append({"seed": s, "fusion standard": fs, "fusion local": fl, "fusion difference": fl - fs,
                         "morphology standard": ms, "morphology local": ml, "morphology difference": ml - ms})
        for branch, run in (("standard", std), ("local", loc)):
            row = {"seed": s, "branch": branch, "fusion AUROC": _auroc(run)[0], "morphology AUROC": _auroc(run)[1]}
            loc_ = json.loads((work / f"q_seed{s}_{'std' if branch == 'standard' else 'local'}.json").read_text())
            for m, r in loc_["localisation"].items():
                name = "window" if m == "local_window" else m            # the local variant's nominal window
                row[f"{name} lift"] = r["lift"]
                row[f"{name} 95% CI"] = f"{r['lift_ci'][0]:.2f}-{r['lift_ci'][1]:.2f}"
            row["pairs"] = next(iter(loc_["localisation"].values()))["pairs"]
            seed_rows.append(row)
    diff = [r["fusion difference"] for r in auc_rows]
    note = (f"fused macro AUROC, local minus standard, over {len(diff)} seed(s): mean {sum(diff) / len(diff):+.4f} "
            "(per seed: " + ", ".join(f"{r['seed']}: {r['fusion difference']:+.4f}" for r in auc_rows)
            + "); the goal was within 0.02")
    data = {"provenance": {"what": "full-size measurements for the chapter 'Do the prototypes point at the evidence?'",
                           "command": f"python benchmarks/evidence_measurements.py --work {work} --seeds "
                                      + " ".join(map(str, seeds)),
                           "commit": commit, "date": date},
            "standard": {"val": report("q_seed42_std_val.json"), "test": report("q_seed42_std.json")},
            "local_variant": {"test": report("q_seed42_local.json"), "auroc": auc_rows, "note": note},
            "seeds": seed_rows}
    out.write_text(json.dumps(data, indent=1, default=float) + "\n")
    print(f"wrote {out}; {note}")
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the root, the runs and the JSONs")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2, 3, 4])
    ap.add_argument("--out", type=Path, default=REPO / "book" / "data" / "evidence_quality.json")
    ap.add_argument("--assemble-only", action="store_true", help="only step 5, from existing runs and JSONs")
    args = ap.parse_args()
    work = args.work
    if not args.assemble_only:
        work.mkdir(parents=True, exist_ok=True)
        root, std = work / "sparse1500", work / "run_std"
        if not (root / "synthetic.json").exists():
            _run([sys.executable, "-m", "protoecg_lib", "data", "synth", "--root", str(root), "--num-records", "1500",
                  "--seed", "0", "--evidence", "sparse"])
        if not (std / "summary.json").exists():
            _run([sys.executable, "-m", "protoecg_lib", "pipeline", "--root", str(root), "--preset", "fast",
                  "--out", str(std)])
        for s in args.seeds:
            if s != 42:
                _variant(root, std, work / f"seed{s}_std", s, local=False)
            _variant(root, std, work / f"seed{s}_local", s, local=True)
        _quality(std, work / "q_seed42_std_val.json", "val")
        _quality(std, work / "q_seed42_std.json")
        _quality(work / "seed42_local", work / "q_seed42_local.json")
        for s in args.seeds:
            if s != 42:
                for b in ("std", "local"):
                    _quality(work / f"seed{s}_{b}", work / f"q_seed{s}_{b}.json", methods=["window", "gradient", "ig"])
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    assemble(work, args.seeds, args.out, commit, datetime.now(timezone.utc).strftime("%Y-%m-%d"))


if __name__ == "__main__":
    main()
