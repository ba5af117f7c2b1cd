"""A finished run's headline record (runs/results.py) and the results tables built from records."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from protoecg_lib.cli import main
from protoecg_lib.runs.results import load_result_records, result_record, results_table, write_result_record

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def finished(tiny_pipeline_run):
    return tiny_pipeline_run.path


def test_the_record_carries_the_summary_figures_and_the_budget(finished):
    rec = result_record(finished, name="tiny-s3", data="synthetic tiny root", commit="abc1234", command="pytest")
    summary = json.loads((finished / "summary.json").read_text())
    assert rec["group"] == "tiny-s3" and rec["commit"] == "abc1234" and rec["command"] == "pytest"
    assert rec["preset"] == summary["preset"] and rec["seed"] == 3 and rec["device"] == "cpu"
    fusion = summary["fusion"]["macro_auroc"]
    assert rec["test"]["fusion"]["point"] == round(fusion["point"], 4)
    assert rec["test"]["fusion"]["lo"] <= rec["test"]["fusion"]["point"] <= rec["test"]["fusion"]["hi"]
    assert rec["test"]["fusion"]["labels"] == summary["fusion"]["labels_evaluated"]
    for branch in ("rhythm", "morphology", "global"):
        own = summary["branches"][branch]["macro_auroc"]["point"]              # its own classifier
        assert rec["test"][branch]["point"] == (None if own is None else round(own, 4))   # None: no AUROC
    lines = (finished / "metrics.jsonl").read_text().splitlines()
    assert sum(rec["budget"]["epochs_run"].values()) == len(lines)          # every epoch line counted once
    assert rec["budget"]["wall_s"] == round(summary["timings_s"]["total"], 1)
    cal = summary["fusion"]["calibration"]
    assert rec["calibration"]["fusion"]["listed_calibrated"] == cal["calibrated"]["median_listed"]


def test_a_group_of_seeds_is_one_row_with_mean_and_range(finished, tmp_path):
    a = result_record(finished, name="tiny-s3", group="tiny", data="synthetic tiny root", commit="abc1234")
    b = json.loads(json.dumps(a))
    b["name"], b["seed"] = "tiny-s4", 4
    b["test"]["fusion"]["point"] = a["test"]["fusion"]["point"] + 0.1
    del b["test"]["global"]
    for r in (a, b):
        write_result_record(r, tmp_path / f"{r['name']}.json")
    records = load_result_records(tmp_path)
    def row(what):
        rows = [line for line in results_table(records, what).splitlines() if line.startswith("| tiny ")]
        assert len(rows) == 1
        return [c.strip() for c in rows[0].strip("|").split("|")]

    runs, cells = row("runs"), row("auroc")
    assert runs[3] == "3, 4" and runs[-1] == f"{a['date']}, abc1234"
    points = [a["test"]["fusion"]["point"], b["test"]["fusion"]["point"]]
    assert cells[1] == f"{np.mean(points):.3f} ({min(points):.2f}-{max(points):.2f})"
    m = a["test"]["morphology"]                                              # the same in both: mean = value
    assert cells[4] == f"{m['point']:.3f} ({m['point']:.2f}-{m['point']:.2f})"
    assert cells[5] == "n/a" if a["test"]["global"]["point"] is None else cells[5].startswith(
        f"{a['test']['global']['point']:.3f}")                               # only one record has it
    with pytest.raises(ValueError, match="'auroc' or 'runs'"):
        results_table(records, "both")
    single = results_table([a])
    f = a["test"]["fusion"]
    assert f"{f['point']:.3f} ({f['lo']:.2f}-{f['hi']:.2f})" in single


def test_bad_inputs_say_what_to_do(tmp_path, finished, capsys):
    with pytest.raises(FileNotFoundError, match="summary.json is missing"):
        result_record(tmp_path, name="x", data="y")
    (tmp_path / "x.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="x.json: not a result record"):
        load_result_records(tmp_path)
    with pytest.raises(FileNotFoundError, match="no folder"):
        load_result_records(tmp_path / "absent")
    assert main(["run", "record", str(tmp_path), "--name", "x", "--data", "y", "--out", str(tmp_path / "r.json")]) == 2
    assert "is not a finished run" in capsys.readouterr().err
    out = tmp_path / "rec" / "tiny.json"
    assert main(["run", "record", str(finished), "--name", "tiny", "--data", "synthetic", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["name"] == "tiny" and "| tiny |" in capsys.readouterr().out
