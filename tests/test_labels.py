import csv

import pytest

from protoecg_lib import labels as L


def test_label_set_sizes_and_partition():
    assert [len(L.label_set(n)) for n in ("rhythm", "morphology", "global", "all")] == [16, 52, 3, 71]
    union = set(L.LABEL_SETS["rhythm"]) | set(L.LABEL_SETS["morphology"]) | set(L.LABEL_SETS["global"])
    assert union == set(L.LABEL_SETS["all"]) and len(union) == 71


def test_spec_order_appendix_a():
    assert L.label_set("rhythm")[:5] == ("1AVB", "IVCD", "3AVB", "2AVB", "SR")
    assert L.label_set("rhythm")[-1] == "TRIGU"
    assert L.label_set("morphology")[:4] == ("NDT", "NST_", "LNGQT", "IMI")
    assert L.label_set("morphology")[-3:] == ("TAB_", "STE_", "PRC(S)")
    assert L.label_set("global") == ("DIG", "NORM", "EL")
    assert L.label_set("all")[:5] == ("NDT", "NST_", "DIG", "LNGQT", "NORM")


def test_clinically_notable_assignments():
    for code in ("1AVB", "2AVB", "3AVB", "IVCD"):
        assert L.branch_of(code) == "rhythm"
    for code in ("LPR", "LNGQT", "PVC", "PAC", "PRC(S)"):
        assert L.branch_of(code) == "morphology"
    assert L.statement("NDT").kinds == "diag/form"
    assert L.statement("NORM").superclass == "NORM"


def test_unknown_code_and_set():
    with pytest.raises(KeyError, match="XYZ"):
        L.statement("XYZ")
    with pytest.raises(ValueError, match="unknown label set"):
        L.label_set("rhythms")


def test_official_statements_csv_agrees(excerpt_root):
    assert L.check_statements_csv(excerpt_root / "scp_statements.csv") == []


def test_statements_csv_disagreement_is_named(excerpt_root, tmp_path):
    rows = list(csv.reader(open(excerpt_root / "scp_statements.csv", newline="")))
    rows[1][1] = "something else"           # NDT description
    rows = [r for r in rows if r[0] != "TRIGU"]  # drop a statement
    path = tmp_path / "scp_statements.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    problems = L.check_statements_csv(path)
    assert any("TRIGU" in p for p in problems)
    assert any("NDT" in p and "description" in p for p in problems)
