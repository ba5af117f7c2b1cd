"""A finished run's headline figures as one small JSON record, and tables of several records.

The book's results page is built from such records (``book/data/results/*.json``): each says what
was run (data, preset, seed, device), with what budget (epochs run per stage, wall time, machine),
from which code (version, commit, command), and what came out on the test fold (macro AUROCs with
their patient-bootstrap CIs, calibration). They are small enough to commit, unlike the run itself.

>>> rec = result_record("runs/fast", name="fast-excerpt-s0", data="PTB-XL excerpt (488 records)")
>>> write_result_record(rec, "book/data/results/fast-excerpt-s0.json")
>>> print(results_table(load_result_records("book/data/results")))
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..files import atomic_write_text
from .layout import RunLayout

__all__ = ["RESULT_MODELS", "result_record", "write_result_record", "load_result_records", "results_table"]

#: Stages that train only linear heads on frozen features (not counted as network epochs).
HEAD_STAGES = ("classifier", "fusion")

#: Models of a record, in table order: (key, column heading).
RESULT_MODELS = (("fusion", "ProtoECGNet (fused)"), ("baseline", "black box"), ("rhythm", "rhythm"),
                 ("morphology", "morphology"), ("global", "global"))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _interval(d: dict) -> dict:
    """Point and CI rounded; a bound the bootstrap could not give (too few positives) stays None."""
    return {k: None if d.get(k) is None else round(float(d[k]), 4) for k in ("point", "lo", "hi")}


def _epochs_run(metrics: Path) -> dict[str, int]:
    """Epochs actually run per ``branch/stage`` (early stopping ends a stage before its maximum)."""
    count: dict[str, int] = defaultdict(int)
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                count[f"{row['branch']}/{row['stage']}"] += 1
    return dict(count)


def result_record(run_dir: str | Path, *, name: str, data: str, group: str | None = None,
                  command: str | None = None, commit: str | None = None, note: str = "",
                  date: str | None = None) -> dict:
    """The headline record of the finished run in ``run_dir``.

    Parameters
    ----------
    run_dir : path
        A finished run (``summary.json`` present).
    name : str
        The record's name (e.g. ``fast-excerpt-s0``).
    data : str
        What the data were, in words (e.g. ``"PTB-XL excerpt, 488 records at 100 Hz"``).
    group : str, optional
        Records of one group (the same settings, other seeds) are summarised together in tables;
        default: ``name``.
    command, commit, note, date
        How the run was made; ``commit`` defaults to ``git rev-parse HEAD`` of the working directory,
        ``date`` to today (UTC).

    Raises
    ------
    FileNotFoundError
        When the run is not finished (no ``summary.json``).
    """
    layout = RunLayout(run_dir)
    if not layout.summary.is_file():
        raise FileNotFoundError(f"{layout.summary} is missing: {run_dir} is not a finished run "
                                "(run `protoecg pipeline --out RUN` to completion first)")
    summary = json.loads(layout.summary.read_text())
    config = json.loads(layout.config.read_text()) if layout.config.is_file() else {}
    pipeline = config.get("pipeline", {})
    test: dict[str, dict] = {}
    for key, _ in RESULT_MODELS:
        if key in ("fusion", "baseline"):
            ev = summary.get(key)
            if ev:
                test[key] = {**_interval(ev["macro_auroc"]), "labels": int(ev["labels_evaluated"])}
        elif key in summary.get("branches", {}):
            b = summary["branches"][key]
            own = b["macro_auroc"]                                     # the branch with its own classifier
            per = summary.get("fusion", {}).get("per_branch", {}).get(key, {})
            test[key] = {**_interval(own), "labels": int(per.get("labels_evaluated", b.get("labels_evaluated", 0)))}
    calibration = {}
    for key in ("fusion", "baseline"):
        cal = (summary.get(key) or {}).get("calibration")
        if cal:
            calibration[key] = {"ece_raw": round(cal["raw"]["ece"], 4), "ece_calibrated": round(cal["calibrated"]["ece"], 4),
                                "listed_raw": cal["raw"]["median_listed"],
                                "listed_calibrated": cal["calibrated"]["median_listed"],
                                "true_median": cal["true_median"]}
    train = pipeline.get("train", {})
    return {
        "name": name, "group": group or name, "data": data, "note": note,
        "preset": summary.get("preset"), "seed": pipeline.get("seed"), "device": summary.get("device"),
        "source": summary.get("data", {}).get("source"), "records": summary.get("data", {}).get("records"),
        "test_ecgs": (summary.get("fusion") or {}).get("n_ecgs"),
        "budget": {"max_epochs": {stage: cfg.get("num_epochs") for stage, cfg in train.items()},
                   "epochs_run": _epochs_run(layout.metrics),
                   "wall_s": round(float(summary.get("timings_s", {}).get("total", float("nan"))), 1),
                   "peak_rss_mb": summary.get("peak_rss_mb"),
                   "amp": any(cfg.get("amp") for cfg in train.values())},
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_name(), "omp_threads": os.environ.get("OMP_NUM_THREADS")},
        "versions": config.get("versions", {}),
        "commit": commit or _commit(Path.cwd()), "command": command,
        "date": date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "test": test, "calibration": calibration,
    }


def write_result_record(record: dict, path: str | Path) -> Path:
    """Write ``record`` as indented JSON (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return path


def load_result_records(folder: str | Path) -> list[dict]:
    """Every ``*.json`` record in ``folder``, sorted by group then name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no folder of result records")
    records = []
    for p in sorted(folder.glob("*.json")):
        rec = json.loads(p.read_text())
        if "test" not in rec or "name" not in rec:
            raise ValueError(f"{p}: not a result record (no 'name'/'test'); write it with write_result_record")
        records.append(rec)
    return sorted(records, key=lambda r: (r["group"], r["name"]))


def _cell(values: list[dict]) -> str:
    values = [v for v in values if v["point"] is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        v = values[0]
        ci = f" ({v['lo']:.2f}-{v['hi']:.2f})" if v["lo"] is not None and v["hi"] is not None else ""
        return f"{v['point']:.3f}{ci}"
    points = np.array([v["point"] for v in values])
    return f"{points.mean():.3f} ({points.min():.2f}-{points.max():.2f})"


def results_table(records: list[dict], what: str = "auroc") -> str:
    """A markdown table, one row per group of records (narrow enough for a book column).

    ``what='auroc'``: the test macro AUROC of each model and the labels listed per ECG. A group of
    one shows each AUROC with its 95 % patient-bootstrap CI; a group of several seeds shows the mean
    over seeds and their range. ``what='runs'``: what ran -- data, preset and device, seeds, the
    budget (the epochs the networks ran, summed over branches, the baseline and their stages, linear
    heads left out, early stopping ending stages before their maximum; the wall time of the whole
    pipeline; means over the group), date and commit.
    """
    if what not in ("auroc", "runs"):
        raise ValueError(f"what={what!r}: give 'auroc' or 'runs'")
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["group"]].append(r)
    if what == "runs":
        head = ["run", "data", "preset, device", "seeds", "budget", "date, commit"]
    else:
        head = ["run"] + [h for _, h in RESULT_MODELS] + ["labels listed (true)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, rs in groups.items():
        first = rs[0]
        if what == "runs":
            epochs = np.mean([sum(n for k, n in r["budget"]["epochs_run"].items()
                                  if k.split("/")[1] not in HEAD_STAGES) for r in rs])
            wall = np.mean([r["budget"]["wall_s"] for r in rs])
            where = f" on {first['machine']['cpus']} CPUs" if first["device"] == "cpu" else ""
            row = [group, first["data"],
                   f"{first['preset']}, {first['device']}" + (" (amp)" if first["budget"]["amp"] else ""),
                   ", ".join(str(r["seed"]) for r in rs), f"{epochs:.0f} network epochs, {wall:.0f} s{where}",
                   f"{first['date']}, {(first['commit'] or 'n/a')[:7]}"]
        else:
            cal = [r["calibration"].get("fusion") for r in rs if r["calibration"].get("fusion")]
            listed = (f"{np.median([c['listed_calibrated'] for c in cal]):.0f} "
                      f"({np.median([c['true_median'] for c in cal]):.0f})") if cal else "n/a"
            row = [group] + [_cell([r["test"][k] for r in rs if k in r["test"]]) for k, _ in RESULT_MODELS] + [listed]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
