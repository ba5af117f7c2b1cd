"""Portability: every module imports without POSIX-only modules, no float64 tensor is sent to a device
(MPS holds none), the torch floor matches the API the code uses, and peak memory reads the platform's
units."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

from protoecg_lib import device

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "protoecg_lib"


def test_every_module_imports_without_fcntl_and_resource():
    """A Windows-like interpreter: ``import fcntl`` and ``import resource`` raise ImportError."""
    script = (
        "import sys, importlib, pkgutil, warnings\n"
        "sys.modules['fcntl'] = None; sys.modules['resource'] = None\n"
        "warnings.simplefilter('ignore', FutureWarning)\n"
        "import protoecg_lib\n"
        "names = [m.name for m in pkgutil.walk_packages(protoecg_lib.__path__, 'protoecg_lib.')]\n"
        "for name in names: importlib.import_module(name) if not name.endswith('__main__') else None\n"
        "from protoecg_lib.device import peak_memory_mb\n"
        "print(len(names), type(peak_memory_mb()).__name__)\n")  # psutil's peak, or NaN: no error
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    count, kind = done.stdout.split()
    assert int(count) > 80 and kind == "float"


def _code_lines():
    for path in sorted(LIBRARY.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if code.strip():
                yield path.relative_to(REPO), number, code


def test_float64_tensors_are_made_on_the_cpu_only():
    """``.double()`` only right after ``.cpu()``; no float64 tensor created on a device."""
    bad = [f"{p}:{n}: {c.strip()}" for p, n, c in _code_lines()
           if (".double()" in c and not all(m.group(1) == ".cpu()" for m in re.finditer(r"(\.\w+\(\))?\.double\(\)", c)))
           or ("float64" in c and "device" in c and "torch" in c)]
    assert not bad, "float64 on a device (MPS cannot hold it):\n" + "\n".join(bad)


def test_the_torch_floor_covers_the_api_the_code_uses():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    floor = next(d for d in deps if d.startswith("torch"))
    version = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", floor).group(1).split(".")[:2])
    uses_device_gradscaler = any('GradScaler("cuda"' in c for _, _, c in _code_lines())
    assert uses_device_gradscaler and version >= (2, 3), f"{floor}: torch.amp.GradScaler('cuda', ...) needs torch >= 2.3"


@pytest.mark.parametrize("platform, raw, expected_mb", [("linux", 2048, 2.0), ("darwin", 3 * 2**20, 3.0)])
def test_peak_memory_reads_kib_on_linux_and_bytes_on_macos(monkeypatch, platform, raw, expected_mb):
    fake = types.SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: types.SimpleNamespace(ru_maxrss=raw))
    monkeypatch.setitem(sys.modules, "resource", fake)
    monkeypatch.setattr(device.sys, "platform", platform)
    assert device.peak_memory_mb() == pytest.approx(expected_mb)


def test_sklearn_is_not_a_runtime_dependency_because_the_library_does_not_import_it():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    imports = [f"{p}:{n}" for p, n, c in _code_lines() if re.search(r"\b(import|from)\s+sklearn\b", c)]
    assert not imports and not any(d.startswith("scikit-learn") for d in deps)
