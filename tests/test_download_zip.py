"""The full PTB-XL from one zip archive, against a local HTTP server: resume with Range, every
unpacked file verified against SHA256SUMS.txt, damaged or missing members fetched on their own."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from httpserver import FaultyServer
from protoecg_lib.data.download import (RECORD_BYTES, ZIP_NAME, DownloadError, download_ptbxl, download_size)
from protoecg_lib.data.download_zip import PHYSIONET_ZIP_URL, zip_url_for
from protoecg_lib.files import sha256_file

NUM_RECORDS = 12
TOP = "ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.3"
DAT1 = "records100/00000/00001_lr.dat"
DAT2 = "records100/00000/00002_lr.dat"


def _build_folder(src: Path, dst: Path) -> Path:
    """A PhysioNet-like folder: the first NUM_RECORDS records at 100 and 500 Hz, metadata, SHA256SUMS.txt."""
    header, *rows = (src / "ptbxl_database.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    rows = rows[:NUM_RECORDS]
    (dst / "ptbxl_database.csv").write_text(header + "".join(rows), encoding="utf-8")
    for name in ("scp_statements.csv", "LICENSE.txt"):
        shutil.copy(src / name, dst / name)
    for row in rows:
        ecg_id = int(row.split(",", 1)[0])
        for rel in (f"records100/00000/{ecg_id:05d}_lr", f"records500/00000/{ecg_id:05d}_hr"):
            for ext in (".hea", ".dat"):
                if (src / f"{rel}{ext}").is_file():
                    (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src / f"{rel}{ext}", dst / f"{rel}{ext}")
    lines = [f"{sha256_file(p)}  {p.relative_to(dst).as_posix()}" for p in sorted(dst.rglob("*")) if p.is_file()]
    (dst / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n")
    return dst


def _write_zip(folder: Path, out: Path, *, replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> None:
    """Zip ``folder`` under PhysioNet's top folder name (deflated), with some members changed or left out."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            if p.is_file() and rel != ZIP_NAME and rel not in drop:
                zf.writestr(f"{TOP}/{rel}", (replace or {}).get(rel, p.read_bytes()))


@pytest.fixture
def served(tmp_path, excerpt_root) -> Path:
    (tmp_path / "served").mkdir()
    folder = _build_folder(excerpt_root, tmp_path / "served")
    _write_zip(folder, folder / ZIP_NAME)
    return folder


def _download(server, tmp_path, **kwargs):
    options = dict(base_url=server.url, backoff=0, timeout=5, progress=False)
    options.update(kwargs)
    return download_ptbxl(tmp_path / "ptbxl", **options)


def _records(root: Path, rate: int) -> list[str]:
    folder = root / f"records{rate}"
    return sorted(p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def test_full_set_comes_from_one_zip_request_and_every_file_verifies(served, tmp_path):
    with FaultyServer(served) as srv:
        report = _download(srv, tmp_path)
        zip_requests = srv.requests_for(ZIP_NAME)
        single = srv.requests_for(DAT1)
    root = tmp_path / "ptbxl"
    assert report.method == "zip" and report.num_records == NUM_RECORDS
    assert zip_requests == [(None, 200)] and single == []       # the records came out of the archive
    assert _records(root, 100) == _records(served, 100) and _records(root, 500) == []   # only the rate asked for
    for rel in _records(root, 100) + ["ptbxl_database.csv", "scp_statements.csv"]:
        assert (root / rel).read_bytes() == (served / rel).read_bytes()
    assert report.unpacked == 2 * NUM_RECORDS + 3               # records + database, statements, licence
    assert not (root / ZIP_NAME).exists() and not list(root.rglob("*.part"))
    assert (root / "protoecg_download.json").is_file()


def test_interrupted_zip_resumes_with_a_range_request(served, tmp_path):
    size = (served / ZIP_NAME).stat().st_size
    with FaultyServer(served) as srv:
        srv.add_fault(ZIP_NAME, "truncate")
        with pytest.raises(DownloadError, match="resumed by the next run"):
            _download(srv, tmp_path, retries=0)
        part = tmp_path / "ptbxl" / f"{ZIP_NAME}.part"
        assert part.stat().st_size == size // 2
        report = _download(srv, tmp_path)
        assert srv.requests_for(ZIP_NAME) == [(None, 200), (f"bytes={size // 2}-", 206)]
    assert report.resumed == 1 and report.bytes == size - size // 2
    assert _records(tmp_path / "ptbxl", 100) == _records(served, 100)


def test_damaged_and_missing_members_are_fetched_on_their_own(served, tmp_path):
    bad = bytearray((served / DAT1).read_bytes())
    bad[100] ^= 0xFF
    _write_zip(served, served / ZIP_NAME, replace={DAT1: bytes(bad)}, drop=(DAT2,))
    with FaultyServer(served) as srv:
        report = _download(srv, tmp_path)
        assert srv.requests_for(DAT1) == [(None, 200)] and srv.requests_for(DAT2) == [(None, 200)]
    root = tmp_path / "ptbxl"
    assert (root / DAT1).read_bytes() == (served / DAT1).read_bytes()
    assert (root / DAT2).read_bytes() == (served / DAT2).read_bytes()
    assert report.fetched >= 3                                  # the checksum list, the archive, the two repairs


def test_a_file_that_is_not_a_zip_is_deleted_with_a_message(served, tmp_path):
    (served / ZIP_NAME).write_bytes(b"<html>maintenance</html>")
    with FaultyServer(served) as srv, pytest.raises(DownloadError, match="not a readable zip.*run the download again"):
        _download(srv, tmp_path)
    assert not (tmp_path / "ptbxl" / ZIP_NAME).exists()


def test_a_second_run_unpacks_nothing_again(served, tmp_path):
    with FaultyServer(served) as srv:
        _download(srv, tmp_path)
        report = _download(srv, tmp_path)
        assert srv.requests_for(ZIP_NAME) == [(None, 200)]      # nothing missing: the archive is not fetched again
    assert report.unpacked == 0 and report.num_records == NUM_RECORDS


def test_subsets_stay_file_by_file_and_zip_refuses_a_subset(served, tmp_path):
    with FaultyServer(served) as srv:
        report = _download(srv, tmp_path, subset=3)
        assert srv.requests_for(ZIP_NAME) == []
    assert report.method == "files" and len(_records(tmp_path / "ptbxl", 100)) == 6
    with pytest.raises(ValueError, match="method='zip' downloads the full set"):
        download_ptbxl(tmp_path / "x", subset=3, method="zip")


def test_zip_url_is_physionets_link_or_the_mirrors_folder():
    assert zip_url_for("https://physionet.org/files/ptb-xl/1.0.3/") == PHYSIONET_ZIP_URL
    assert zip_url_for("http://mirror.example/ptb-xl/") == f"http://mirror.example/ptb-xl/{ZIP_NAME}"


def test_sizes_match_the_excerpts_files(excerpt_root):
    for rate, pattern in ((100, "records100/*/*_lr.*"), (500, "records500/*/*_hr.*")):
        files = list(excerpt_root.glob(pattern))
        mean = sum(f.stat().st_size for f in files) / (len(files) / 2)
        assert abs(RECORD_BYTES[rate] - mean) < 1, (rate, mean)
    assert RECORD_BYTES[100] * 21_799 == pytest.approx(0.536e9, rel=0.01)   # "about 0.54 GB"
    assert download_size(100, "full", method="files") == "about 0.54 GB"
    assert download_size(100, 2000) == "about 49 MB"
    assert download_size(100, "full").startswith("about 1.7 GB")
