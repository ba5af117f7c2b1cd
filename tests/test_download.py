"""Tests of protoecg_lib.data.download against a local HTTP server (tests/httpserver.py).

The server serves a copy, made in a tmp folder, of a small part of the mini PTB-XL excerpt
(``excerpt_root`` from conftest.py):
the metadata trimmed to 20 records (rows written in REVERSE ecg_id order, so that "first N in
ecg_id order" is really tested), their 100 Hz files, the 500 Hz files among them, and a
SHA256SUMS.txt computed for that copy.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from httpserver import FaultyServer, corrupt_bytes
from protoecg_lib.data.checksums import OFFICIAL_V103_SHA256, ChecksumListError, parse_sha256sums, verify_official_metadata
from protoecg_lib.files import sha256_file
from protoecg_lib.data.download import (
    MANIFEST_FILE, PHYSIONET_URL, ChecksumError, DownloadError, DownloadReport,
    download_ptbxl,
)

NUM_RECORDS = 20
METADATA = ["SHA256SUMS.txt", "ptbxl_database.csv", "scp_statements.csv", "RECORDS", "LICENSE.txt",
            "ptbxl_v102_changelog.txt", "ptbxl_v103_changelog.txt"]
DAT1 = "records100/00000/00001_lr.dat"

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sums_text(folder: Path, skip: str = "") -> bytes:
    lines = [f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}"
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "SHA256SUMS.txt"
             and p.relative_to(folder).as_posix() != skip]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="session")
def served(tmp_path_factory, excerpt_root) -> Path:
    """A trimmed copy of the mini excerpt (never inside the repository)."""
    src = excerpt_root
    dst = tmp_path_factory.mktemp("served")
    header, *rows = (src / "ptbxl_database.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    # The csv has quoted multi-line-free rows; every physical line is one record.
    rows = rows[:NUM_RECORDS]
    (dst / "ptbxl_database.csv").write_text(header + "".join(reversed(rows)), encoding="utf-8")
    for name in METADATA[2:]:
        if name != "RECORDS":
            shutil.copy(src / name, dst / name)
    kept = []
    for line in (src / "RECORDS").read_text().split():
        if int(line.rsplit("/", 1)[1][:5]) <= 20:
            kept.append(line)
            for ext in (".hea", ".dat"):
                (dst / line).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src / f"{line}{ext}", dst / f"{line}{ext}")
    (dst / "RECORDS").write_text("\n".join(kept) + "\n")
    (dst / "SHA256SUMS.txt").write_bytes(_sums_text(dst))
    return dst


@pytest.fixture
def server(served):
    with FaultyServer(served) as srv:
        yield srv


@pytest.fixture
def download(tmp_path, server):
    """download_ptbxl into tmp_path/"ptbxl" from the local server, file by file, fast settings."""
    def run(**kwargs) -> DownloadReport:
        options = dict(base_url=server.url, backoff=0, timeout=5, progress=False, workers=4, method="files")
        options.update(kwargs)
        return download_ptbxl(tmp_path / "ptbxl", **options)
    return run


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.name != MANIFEST_FILE}


def _record_names(root: Path, sampling_rate: int = 100) -> list[str]:
    folder = root / f"records{sampling_rate}"
    return sorted(p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def _assert_no_broken_final_files(root: Path, served: Path) -> None:
    """Every file under a final name is byte-identical to the served one."""
    for rel, data in _files(root).items():
        if not rel.endswith(".part"):
            assert data == (served / rel).read_bytes(), f"{rel} is under its final name but differs"


# ---------------------------------------------------------------- happy path and resume

def test_happy_path_downloads_everything_verified(download, served, tmp_path):
    report = download()
    root = tmp_path / "ptbxl"
    got = _files(root)
    expected = METADATA + [f"records100/00000/{i:05d}_lr{ext}" for i in range(1, 21) for ext in (".hea", ".dat")]
    assert sorted(got) == sorted(expected)
    for rel, data in got.items():
        assert data == (served / rel).read_bytes(), rel
    sums = parse_sha256sums((root / "SHA256SUMS.txt").read_text())
    assert all(_sha(got[rel]) == sums[rel] for rel in got if rel != "SHA256SUMS.txt")
    assert (report.fetched, report.skipped, report.resumed, report.retried) == (len(expected), 0, 0, 0)
    assert report.num_records == NUM_RECORDS and report.failures == []
    assert report.bytes == sum(len(d) for d in got.values())
    # the served metadata is a trimmed excerpt; scp_statements.csv is the official file
    assert report.official_v103 == {"ptbxl_database.csv": False, "scp_statements.csv": True, "RECORDS": False}
    assert (root / MANIFEST_FILE).is_file()


def test_second_run_fetches_nothing(download, server):
    first = download()
    requests_before = len(server.log)
    second = download()
    assert second.fetched == 0 and second.bytes == 0 and second.retried == 0
    assert second.skipped == first.fetched
    assert len(server.log) == requests_before  # not a single request


def test_truncated_transfer_resumes_with_range(download, server, served, tmp_path):
    server.add_fault(DAT1, "truncate")
    report = download()
    size = (served / DAT1).stat().st_size
    assert server.requests_for(DAT1) == [(None, 200), (f"bytes={size // 2}-", 206)]
    assert report.resumed == 1 and report.retried == 1
    assert (tmp_path / "ptbxl" / DAT1).read_bytes() == (served / DAT1).read_bytes()
    assert not list((tmp_path / "ptbxl").rglob("*.part"))


def test_truncated_transfer_restarts_when_server_ignores_range(served, tmp_path):
    with FaultyServer(served, range_support=False) as srv:
        srv.add_fault(DAT1, "truncate")
        report = download_ptbxl(tmp_path, base_url=srv.url, backoff=0, timeout=5, progress=False,
                                method="files")
        size = (served / DAT1).stat().st_size
        assert srv.requests_for(DAT1) == [(None, 200), (f"bytes={size // 2}-", 200)]
    assert report.resumed == 0 and report.retried == 1
    assert (tmp_path / DAT1).read_bytes() == (served / DAT1).read_bytes()


def test_failed_run_leaves_only_part_file_then_resumes(download, server, served, tmp_path):
    root = tmp_path / "ptbxl"
    server.add_fault(DAT1, "truncate")
    with pytest.raises(DownloadError, match=r"00001_lr\.dat") as info:
        download(retries=0, workers=1)
    assert server.url + DAT1 in str(info.value)
    assert not (root / DAT1).exists()
    part = root / (DAT1 + ".part")
    assert part.read_bytes() == (served / DAT1).read_bytes()[: part.stat().st_size]
    assert 0 < part.stat().st_size < (served / DAT1).stat().st_size
    assert info.value.report is not None and len(info.value.report.failures) == 1
    assert info.value.report.failed_files == [DAT1]
    _assert_no_broken_final_files(root, served)
    # the failure did not stop the other records: every other file is there, verified
    expected = sorted(p.relative_to(served).as_posix() for p in (served / "records100").rglob("*") if p.is_file())
    assert _record_names(root) == sorted(r + ".part" if r == DAT1 else r for r in expected)
    assert f"The other {2 * NUM_RECORDS - 1} record files are complete and verified" in str(info.value)
    assert f"protoecg data download --root {root} --sampling-rate 100 --base-url {server.url}" in str(info.value)
    report = download()
    assert report.resumed == 1 and (root / DAT1).read_bytes() == (served / DAT1).read_bytes()
    assert not part.exists()


def test_stale_part_file_is_continued(download, server, served, tmp_path):
    data = (served / DAT1).read_bytes()
    part = tmp_path / "ptbxl" / (DAT1 + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    report = download()
    assert server.requests_for(DAT1) == [("bytes=1000-", 206)]
    assert report.resumed == 1 and report.retried == 0
    assert (tmp_path / "ptbxl" / DAT1).read_bytes() == data


def test_complete_part_file_answered_416_is_verified_and_kept(download, server, served, tmp_path):
    data = (served / DAT1).read_bytes()
    part = tmp_path / "ptbxl" / (DAT1 + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    report = download()
    assert server.requests_for(DAT1) == [(f"bytes={len(data)}-", 416)]
    assert report.retried == 0 and (tmp_path / "ptbxl" / DAT1).read_bytes() == data


def test_damaged_final_file_is_fetched_again(download, served, tmp_path):
    first = download()
    (tmp_path / "ptbxl" / DAT1).write_bytes(b"not an ECG")
    report = download()
    assert report.fetched == 1 and report.skipped == first.fetched - 1
    assert (tmp_path / "ptbxl" / DAT1).read_bytes() == (served / DAT1).read_bytes()


# ---------------------------------------------------------------- failures

def test_corrupt_file_once_is_retried(download, server, served, tmp_path):
    server.add_fault(DAT1, "corrupt")
    report = download()
    assert report.retried == 1 and len(server.requests_for(DAT1)) == 2
    assert (tmp_path / "ptbxl" / DAT1).read_bytes() == (served / DAT1).read_bytes()


def test_persistent_corruption_raises_clear_error(download, server, served, tmp_path):
    server.add_fault(DAT1, "corrupt", times=None)
    data = (served / DAT1).read_bytes()
    with pytest.raises(ChecksumError) as info:
        download(retries=2)
    message = str(info.value)
    assert DAT1 in message and _sha(data) in message and _sha(corrupt_bytes(data)) in message
    assert "3 attempts" in message and "--base-url" in message
    assert len(server.requests_for(DAT1)) == 3
    root = tmp_path / "ptbxl"
    assert not (root / DAT1).exists() and not (root / (DAT1 + ".part")).exists()
    _assert_no_broken_final_files(root, served)


def test_404_for_a_record_names_the_url(download, server):
    server.add_fault(DAT1, "404", times=None)
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download(retries=3)
    assert server.url + DAT1 in str(info.value)
    assert len(server.requests_for(DAT1)) == 1  # a 404 is not retried


def test_failed_records_do_not_stop_the_others(download, server, served, tmp_path):
    failing = ["records100/00000/00003_lr.dat", "records100/00000/00011_lr.hea"]
    for rel in failing:
        server.add_fault(rel, "404", times=None)
    with pytest.raises(DownloadError) as info:
        download(retries=0, workers=1)
    message = str(info.value)
    assert message.startswith(f"2 of {2 * NUM_RECORDS} record files could not be downloaded ({', '.join(failing)})")
    assert "retries the others" in message and "protoecg data download --root" in message
    report = info.value.report
    assert report.failed_files == failing and report.fetched == len(METADATA) + 2 * NUM_RECORDS - 2
    root = tmp_path / "ptbxl"
    assert not any((root / rel).exists() for rel in failing)
    assert len(_record_names(root)) == 2 * NUM_RECORDS - 2
    _assert_no_broken_final_files(root, served)
    server.override(failing[0], None)                                 # still missing: the retry names it again
    for rel in failing:
        server._faults.pop(rel, None)
    with pytest.raises(DownloadError, match=r"00003_lr\.dat"):
        download(retries=0)
    server.override(failing[0], (served / failing[0]).read_bytes())
    assert download().fetched == 1


def test_the_download_gives_up_when_every_file_fails(download, server, monkeypatch):
    import protoecg_lib.data.download as module

    monkeypatch.setattr(module, "_GIVE_UP_AFTER", 3)
    for rel in _record_names(server.folder):
        server.add_fault(rel, "404", times=None)
    with pytest.raises(DownloadError, match=r"After 3 failures in a row the download gave up \((\d+) record files "
                                            r"not started\)") as info:
        download(retries=0, workers=1)
    assert info.value.report.not_started == 2 * NUM_RECORDS - 3


def test_no_server_names_only_files_that_exist(tmp_path):
    with FaultyServer(tmp_path / "nothing") as srv:
        url = srv.url
    with pytest.raises(DownloadError) as info:                        # the server is gone: connection refused
        download_ptbxl(tmp_path / "ptbxl", base_url=url, retries=1, backoff=0, timeout=2, progress=False)
    message = str(info.value)
    assert "SHA256SUMS.txt" in message and ".part" not in message and "strict=False" not in message
    assert "Check the network and the server address" in message
    assert not list((tmp_path / "ptbxl").iterdir())


@pytest.mark.parametrize("fault", ["500", "reset", "truncate"])
def test_transient_failures_are_retried(download, server, served, tmp_path, fault):
    server.add_fault(DAT1, fault, times=2)
    report = download(retries=2)
    assert report.retried == 2 and len(server.requests_for(DAT1)) == 3
    assert (tmp_path / "ptbxl" / DAT1).read_bytes() == (served / DAT1).read_bytes()


def test_transient_failure_beyond_retries_raises(download, server):
    server.add_fault(DAT1, "500", times=None)
    with pytest.raises(DownloadError, match="after 2 attempts"):
        download(retries=1)


def test_timeout_is_retried(download, server, served, tmp_path):
    server.stall_s = 1.0
    server.add_fault(DAT1, "stall")
    report = download(timeout=0.3)
    assert report.retried == 1
    assert (tmp_path / "ptbxl" / DAT1).read_bytes() == (served / DAT1).read_bytes()


def test_missing_metadata_file_is_an_error(download, server):
    server.add_fault("scp_statements.csv", "404", times=None)
    with pytest.raises(DownloadError, match=r"HTTP 404 .*scp_statements\.csv"):
        download()


# ---------------------------------------------------------------- checksum list

def test_missing_checksum_entry_strict_and_lenient(download, server, served, tmp_path):
    server.override("SHA256SUMS.txt", _sums_text(served, skip=DAT1))
    with pytest.raises(DownloadError, match=r"no entry in SHA256SUMS\.txt.*00001_lr\.dat"):
        download()
    assert _record_names(tmp_path / "ptbxl") == []  # refused before any record was fetched
    with pytest.warns(UserWarning, match="no entry"):
        report = download(strict=False)
    assert report.failures == [] and (tmp_path / "ptbxl" / DAT1).read_bytes() == (served / DAT1).read_bytes()


def test_optional_file_absent_from_checksum_list_is_not_fetched(download, server, served, tmp_path):
    server.override("SHA256SUMS.txt", _sums_text(served, skip="LICENSE.txt"))
    download()
    assert not (tmp_path / "ptbxl" / "LICENSE.txt").exists()
    assert server.requests_for("LICENSE.txt") == []


def test_no_checksum_list(download, server, served, tmp_path):
    server.override("SHA256SUMS.txt", None)
    with pytest.raises(DownloadError, match="strict=False"):
        download()
    with pytest.warns(UserWarning, match="WITHOUT checksum"):
        report = download(strict=False)
    assert report.num_records == NUM_RECORDS
    assert (tmp_path / "ptbxl" / DAT1).read_bytes() == (served / DAT1).read_bytes()


def test_parse_sha256sums_formats_and_errors():
    digest = "ab" * 32
    text = f"{digest}  a.csv\n\n# comment\n{digest.upper()} *records100/x.dat\n{digest}  ./RECORDS\n"
    assert parse_sha256sums(text) == {"a.csv": digest, "records100/x.dat": digest, "RECORDS": digest}
    with pytest.raises(ChecksumListError, match="line 1"):
        parse_sha256sums("deadbeef  a.csv\n")
    for bad in ("../etc/passwd", "/etc/passwd", "records100/../../x"):
        with pytest.raises(ChecksumListError, match="unsafe file path"):
            parse_sha256sums(f"{digest}  {bad}\n")


# ---------------------------------------------------------------- selection

def test_subset_fetches_exactly_the_first_n_ecg_ids(download, tmp_path):
    report = download(subset=3)
    assert report.num_records == 3
    assert _record_names(tmp_path / "ptbxl") == [
        f"records100/00000/{i:05d}_lr{ext}" for i in (1, 2, 3) for ext in (".dat", ".hea")]


def test_subset_larger_than_the_metadata_takes_all(download, tmp_path):
    with pytest.warns(UserWarning, match="downloading all"):
        report = download(subset=1000)
    assert report.num_records == NUM_RECORDS and len(_record_names(tmp_path / "ptbxl")) == 2 * NUM_RECORDS


def test_sampling_rate_500(download, served, tmp_path):
    download(sampling_rate=500, subset=2)
    root = tmp_path / "ptbxl"
    assert _record_names(root, 500) == [f"records500/00000/{i:05d}_hr{ext}" for i in (1, 2) for ext in (".dat", ".hea")]
    assert _record_names(root, 100) == []
    _assert_no_broken_final_files(root, served)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sampling_rate=250), "100 or 500"),
    (dict(subset=0), "positive"),
    (dict(subset=True), "positive"),
    (dict(subset="half"), "positive"),
    (dict(retries=-1), "retries"),
    (dict(timeout=0), "timeout"),
    (dict(base_url="ftp://example.org/ptb-xl/"), "http"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        download_ptbxl(tmp_path, progress=False, **kwargs)


# ---------------------------------------------------------------- official metadata, report

def test_official_checksums_match_the_readme(excerpt_root):
    readme = (excerpt_root / "README.md").read_text()
    for name, digest in OFFICIAL_V103_SHA256.items():
        assert f"{name} {digest}" in readme
    assert PHYSIONET_URL == "https://physionet.org/files/ptb-xl/1.0.3/"


def test_verify_official_metadata(excerpt_root, tmp_path):
    assert verify_official_metadata(excerpt_root) == {"ptbxl_database.csv": False, "scp_statements.csv": True,
                                              "RECORDS": False}
    assert verify_official_metadata(tmp_path) == dict.fromkeys(OFFICIAL_V103_SHA256)


def test_report_reads_well(tmp_path):
    report = DownloadReport(root=tmp_path, sampling_rate=100, num_records=20, fetched=47, skipped=3,
                            resumed=2, retried=4, bytes=2_500_000, seconds=2.0,
                            failures=["records100/00000/00001_lr.dat: HTTP 404"],
                            official_v103={"ptbxl_database.csv": True, "scp_statements.csv": True, "RECORDS": None})
    text = str(report)
    for piece in ("100 Hz, 20 records", "fetched   47 files (2 resumed)", "2.5 MB in 2.0 s (1.2 MB/s)",
                  "skipped   3", "retried   4", "failures  1", "00001_lr.dat: HTTP 404", "RECORDS absent"):
        assert piece in text


def test_progress_bars_go_to_stderr(download, capsys):
    download(subset=2, progress=True)
    err = capsys.readouterr().err
    assert "PTB-XL metadata" in err and "records100" in err and "4/4" in err


def test_cli_download_reports_failed_files_and_the_retry(server, tmp_path, capsys):
    from protoecg_lib.cli import main

    server.add_fault(DAT1, "404", times=None)
    root = tmp_path / "ptbxl"
    assert main(["data", "download", "--root", str(root), "--base-url", server.url, "--method", "files",
                 "--quiet"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"protoecg: download failed: HTTP 404 Not Found for {server.url}{DAT1}")
    assert (f"retry with `protoecg data download --root {root} --sampling-rate 100 --base-url {server.url} "
            "--method files`") in last
    assert (root / "records100/00000/00002_lr.dat").is_file()
