"""Execute one chapter as Colab would (called by .ci/colab.sh inside the clean virtual environment).

The kernel gets the stand-in ``google.colab`` (PYTHONPATH with its ``sitecustomize``), a local HTTP
server plays PhysioNet (the excerpt and its SHA256SUMS.txt, ``PROTOECG_PHYSIONET_URL``), and Colab's
``/content`` is a temporary folder (one cell inserted after the install cell says so). The chapter's
install cell gets the wheel instead of the git URL; ``KEEP_ON_DRIVE`` is set to True. Then it checks
what a learner would see: the wheel was installed by the cell into this environment, the mode was
chosen from the device, the data came from "PhysioNet" and lies on the stand-in Drive.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main() -> int:
    ap = argparse.ArgumentParser()
    for name in ("--wheel", "--notebook", "--excerpt", "--standin", "--work"):
        ap.add_argument(name, required=True)
    args = ap.parse_args()
    work = Path(args.work)
    try:
        import protoecg_lib  # noqa: F401
        raise SystemExit("protoecg_lib is already importable here; the install cell would have nothing to do")
    except ImportError:
        pass

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

    handler = functools.partial(Quiet, directory=args.excerpt)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ.update(PYTHONPATH=args.standin, COLAB_SIM_DRIVE=str(work / "gdrive"),
                      PROTOECG_PHYSIONET_URL=f"http://127.0.0.1:{server.server_address[1]}/",
                      MPLBACKEND="Agg", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))

    nb = nbformat.read(args.notebook, as_version=4)
    install = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "%pip install" in c.source)
    spec = re.search(r'"protoecg-lib @ git\+[^"]+"', nb.cells[install].source)
    assert spec, "the install cell names no git URL"
    nb.cells[install].source = nb.cells[install].source.replace(spec.group(0), f'"{args.wheel}"')
    content = work / "content"
    nb.cells.insert(install + 1, nbformat.v4.new_code_cell(
        "# (simulation only) Colab's /content is a temporary folder here\n"
        "from pathlib import Path\nfrom protoecg_lib.teaching import chapter\n"
        f"chapter.DRIVE_MOUNT = Path({str(content / 'drive')!r})\n"
        f"chapter._COLAB_DATA = Path({str(content / 'ptb-xl')!r})"))
    setup = next(c for c in nb.cells if c.cell_type == "code" and "setup_chapter(" in c.source)
    assert "KEEP_ON_DRIVE = False" in setup.source
    setup.source = setup.source.replace("KEEP_ON_DRIVE = False", "KEEP_ON_DRIVE = True")

    t0 = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    seconds = time.perf_counter() - t0
    server.shutdown()
    nbformat.write(nb, str(work / "executed.ipynb"))

    def text(cell) -> str:
        return "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
                       for o in cell.get("outputs", []))

    installed = text(nb.cells[install])
    header = text(setup)
    site = Path(sys.prefix)
    import importlib
    importlib.invalidate_caches()
    import protoecg_lib
    checks = {
        "the install cell installed the wheel": re.search(r"protoecg_lib \d+\.\d+", installed) is not None,
        "protoecg_lib comes from the clean venv": Path(protoecg_lib.__file__).resolve().is_relative_to(site.resolve()),
        "MODE='auto' picked fast on this CPU": "mode: fast (MODE='auto' on a CPU)" in header,
        "Drive was mounted (stand-in)": "Mounted at" in header and "kept in:" in header,
        "PTB-XL came from the local PhysioNet onto Drive":
            len(list((work / "gdrive" / "protoecg" / "ptb-xl" / "records100").rglob("*.dat"))) > 400,
        "the decoded cache is on Drive": any((work / "gdrive" / "protoecg" / "cache").rglob("*.npy")),
    }
    for name, ok in checks.items():
        print(f"[colab] {'ok  ' if ok else 'FAIL'} {name}")
    print(f"[colab] chapter executed in {seconds:.0f} s; setup printed:\n" + header)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
