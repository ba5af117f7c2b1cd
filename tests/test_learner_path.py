"""The learner's path: the mode by device (one rule for chapters, cached_run and the CLI), Colab's
set-up with Google Drive (a stand-in google.colab, a local PhysioNet), and finished runs packed,
fetched with their SHA-256 and unpacked instead of retrained."""
from __future__ import annotations

import importlib
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from conftest import REPO, build_tiny_run, copy_root
from httpserver import FaultyServer
from protoecg_lib import settings
from protoecg_lib.cli import build_parser
from protoecg_lib.cli.training import resolve_preset
from protoecg_lib.data import load_ptbxl
from protoecg_lib.data.fetch import ChecksumError, fetch_url
from protoecg_lib.files import sha256_file
from protoecg_lib.runs.archive import pack_run, unpack_run
from protoecg_lib.teaching import chapter
from protoecg_lib.training.cache import cached_run
from protoecg_lib.training.config import pipeline_config


@pytest.fixture
def clean_env(monkeypatch):
    """No mode, data or mirror switches from the caller's shell; whatever the test sets is undone."""
    for name in ("PROTOECG_FAST", "PROTOECG_MODE", "PROTOECG_DATA", "PROTOECG_PHYSIONET_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROTOECG_CACHE", os.environ["PROTOECG_CACHE"])   # restored after setup_chapter moves it
    return monkeypatch


# ----------------------------------------------------------------------------- the mode
@pytest.mark.parametrize("mode, device, expected", [
    ("auto", "cpu", "fast"), ("auto", "cuda", "paper"), ("auto", "cuda:1", "paper"), ("auto", "mps", "fast"),
    (None, "cpu", "fast"), ("fast", "cuda", "fast"), ("paper", "cpu", "paper"), ("PAPER", "cpu", "paper"),
])
def test_auto_is_paper_on_a_gpu_and_fast_on_a_cpu(clean_env, mode, device, expected):
    assert settings.resolve_mode(mode, device) == expected


def test_protoecg_fast_wins_and_protoecg_mode_sets_auto(clean_env):
    clean_env.setenv("PROTOECG_FAST", "1")
    assert settings.resolve_mode("paper", "cuda") == "fast"
    assert settings.describe_mode("auto", "cuda") == "fast (PROTOECG_FAST=1 is set)"
    clean_env.delenv("PROTOECG_FAST")
    clean_env.setenv("PROTOECG_MODE", "paper")
    assert settings.resolve_mode("auto", "cpu") == "paper" and settings.resolve_mode("fast", "cpu") == "fast"
    with pytest.raises(ValueError, match="choose 'auto'"):
        settings.resolve_mode("slow", "cpu")


def test_auto_on_this_machine_follows_its_device(clean_env):
    """CI runs on a CPU: there MODE = "auto" is fast."""
    expected = "paper" if torch.cuda.is_available() else "fast"
    assert settings.resolve_mode("auto") == expected
    assert settings.describe_mode("auto") == f"{expected} (MODE='auto' on {'a GPU' if expected == 'paper' else 'a CPU'})"


def test_the_cli_preset_defaults_to_auto_and_follows_the_same_rule(clean_env):
    args = build_parser().parse_args(["pipeline", "--out", "x", "--device", "cpu"])
    assert args.preset == "auto" and resolve_preset(args) == "fast"
    args = build_parser().parse_args(["pipeline", "--out", "x", "--device", "cuda"])
    assert resolve_preset(args) == "paper"


def test_setup_chapter_prints_and_exports_the_mode(clean_env, excerpt_root, capsys):
    ctx = chapter.setup_chapter("Chapter T", mode="auto", root=excerpt_root)
    out = capsys.readouterr().out
    expected = "paper" if torch.cuda.is_available() else "fast"
    assert ctx.mode == ctx.preset == expected and f"mode: {expected} (MODE='auto' on" in out
    assert os.environ["PROTOECG_MODE"] == expected and settings.resolve_mode(None) == expected
    ctx = chapter.setup_chapter("Chapter T", mode="paper", root=excerpt_root)
    assert ctx.preset == "paper" and settings.resolve_mode(None) == "paper"   # what cached_run(ctx.root) then uses


# ----------------------------------------------------------------------------- Colab and Google Drive
@pytest.fixture
def physionet(excerpt_root, tmp_path):
    """A local PhysioNet folder: 8 excerpt records and their SHA256SUMS.txt."""
    folder = copy_root(excerpt_root, tmp_path / "physionet", num_records=8)
    lines = [f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}" for p in sorted(folder.rglob("*")) if p.is_file()]
    (folder / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n")
    with FaultyServer(folder) as server:
        yield server


@pytest.fixture
def colab(clean_env, tmp_path):
    """``google.colab`` is the CI stand-in (.ci/colab); Drive mounts under tmp_path; Drive's files in tmp_path/gdrive."""
    clean_env.syspath_prepend(str(REPO / ".ci" / "colab"))
    clean_env.setenv("COLAB_SIM_DRIVE", str(tmp_path / "gdrive"))
    clean_env.setattr(chapter, "DRIVE_MOUNT", tmp_path / "content" / "drive")
    for name in ("google", "google.colab", "google.colab.drive"):
        sys.modules.pop(name, None)
    module = importlib.import_module("google.colab")
    yield module
    for name in ("google", "google.colab", "google.colab.drive"):
        sys.modules.pop(name, None)


def test_colab_with_drive_keeps_data_cache_and_runs_on_drive(colab, physionet, tmp_path, capsys):
    os.environ["PROTOECG_PHYSIONET_URL"] = physionet.url
    try:
        ctx = chapter.setup_chapter("Chapter T", colab_subset=5, persist="drive")
        drive = tmp_path / "gdrive" / "protoecg"
        assert colab.drive.mounts == [str(tmp_path / "content" / "drive")]
        assert ctx.persist == tmp_path / "content" / "drive" / "MyDrive" / "protoecg"
        assert ctx.root == ctx.persist / "ptb-xl" and os.environ["PROTOECG_DATA"] == str(ctx.root)
        assert os.environ["PROTOECG_CACHE"] == str(ctx.persist / "cache")
        assert len(list((drive / "ptb-xl" / "records100").rglob("*.dat"))) == 5     # on "Drive", outliving the VM
        assert "kept in:" in capsys.readouterr().out
        requests = len(physionet.log)
        os.environ.pop("PROTOECG_DATA")
        chapter.setup_chapter("Chapter U", colab_subset=5, persist="drive")          # the next chapter
        assert len(physionet.log) == requests                                      # nothing downloaded again
    finally:
        os.environ.pop("PROTOECG_DATA", None)


def test_drive_outside_colab_warns_and_keeps_nothing(clean_env):
    sys.modules.pop("google.colab", None)
    with pytest.warns(UserWarning, match="only Colab mounts"):
        assert chapter.persist_folder("drive") is None


def test_persist_to_a_folder_anywhere(clean_env, excerpt_root, tmp_path):
    ctx = chapter.setup_chapter("Chapter T", root=excerpt_root, persist=tmp_path / "keep")
    assert ctx.persist == tmp_path / "keep" and os.environ["PROTOECG_CACHE"] == str(tmp_path / "keep" / "cache")


# ----------------------------------------------------------------------------- run archives
@pytest.fixture(scope="module")
def data(excerpt_root):
    return load_ptbxl(excerpt_root)


@pytest.fixture
def finished_run(data, tmp_path):
    """A tiny complete run that records the fast preset's configuration, trained on a root elsewhere."""
    run = build_tiny_run(tmp_path / "run", data)
    config = json.loads(run.layout.config.read_text())
    config["pipeline"] = pipeline_config("fast").to_dict()
    config["data"]["root"] = "/elsewhere/ptb-xl"
    run.layout.config.write_text(json.dumps(config))
    run.layout.summary.write_text(json.dumps({"done": True}))
    state = run.layout.state("rhythm", "joint")
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"resume state")
    return run


def test_pack_is_reproducible_and_round_trips(finished_run, tmp_path):
    a, digest = pack_run(finished_run, tmp_path / "a.tar.gz")
    b, again = pack_run(finished_run.path, tmp_path / "b.tar.gz")
    assert digest == again == sha256_file(a) and a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a.tar.gz.sha256").read_text() == f"{digest}  a.tar.gz\n"
    with tarfile.open(a) as tar:
        names = tar.getnames()
    assert "run/summary.json" in names and "run/model.pt" in names and not any(n.endswith("state.pt") for n in names)
    dest = unpack_run(a, tmp_path / "unpacked", sha256=digest)
    for name in names:
        rel = name.split("/", 1)[1]
        assert (dest / rel).read_bytes() == (finished_run.path / rel).read_bytes()
    with tarfile.open(pack_run(finished_run, tmp_path / "s.tar.gz", include_state=True)[0]) as tar:
        assert "run/rhythm/joint/state.pt" in tar.getnames()


def test_unpack_refuses_a_wrong_checksum_an_unsafe_member_and_an_unfinished_run(finished_run, tmp_path):
    archive, digest = pack_run(finished_run, tmp_path / "a.tar.gz")
    with pytest.raises(ValueError, match="sha256 .* expected 0{64}"):
        unpack_run(archive, tmp_path / "x", sha256="0" * 64)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(finished_run.layout.summary, arcname="run/../../escape.json")
    with pytest.raises(ValueError, match="not a file under run/"):
        unpack_run(evil, tmp_path / "x")
    finished_run.layout.summary.unlink()
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        pack_run(finished_run, tmp_path / "c.tar.gz")
    assert not (tmp_path / "x").exists() and not (tmp_path / "escape.json").exists()


def test_cached_run_fetches_a_published_run_instead_of_training(finished_run, excerpt_root, tmp_path, clean_env):
    clean_env.setenv("PROTOECG_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    archive, digest = pack_run(finished_run, site / "fast-run.tar.gz")
    with FaultyServer(site) as server:
        server.add_fault("fast-run.tar.gz", "truncate")                   # a dropped connection: resumed
        run = cached_run(excerpt_root, "fast", url=server.url + "fast-run.tar.gz", sha256=digest, verbose=False)
        size = archive.stat().st_size
        assert server.requests_for("fast-run.tar.gz") == [(None, 200), (f"bytes={size // 2}-", 206)]
        again = cached_run(excerpt_root, "fast", url=server.url + "fast-run.tar.gz", sha256=digest, verbose=False)
        assert len(server.requests_for("fast-run.tar.gz")) == 2             # the second chapter: from the cache
    assert again == run and run.complete and run.path.parent == tmp_path / "cache" / "runs"
    assert run.config["data"]["root"] == str(excerpt_root.resolve())
    assert run.config["data"]["trained_root"] == "/elsewhere/ptb-xl"
    assert run.load_model().labels == finished_run.load_model().labels
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))                # the archive is not kept twice


def test_cached_run_refuses_an_archive_of_another_configuration(finished_run, excerpt_root, tmp_path, clean_env):
    clean_env.setenv("PROTOECG_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    _, digest = pack_run(finished_run, site / "run.tar.gz")
    with FaultyServer(site) as server, pytest.raises(ValueError, match="another configuration than the paper run"):
        cached_run(excerpt_root, "paper", url=server.url + "run.tar.gz", sha256=digest, verbose=False)
    assert not [p for p in (tmp_path / "cache" / "runs").iterdir() if p.is_dir()]
    with pytest.raises(ValueError, match="needs its sha256"):
        cached_run(excerpt_root, "fast", url="http://127.0.0.1:9/run.tar.gz", verbose=False)


def test_fetch_url_refuses_bytes_that_do_not_match(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "f.bin").write_bytes(b"published bytes")
    with FaultyServer(tmp_path / "site") as server, pytest.raises(ChecksumError, match="checksum mismatch"):
        fetch_url(server.url + "f.bin", tmp_path / "f.bin", "1" * 64, retries=0)
    assert not (tmp_path / "f.bin").exists()
