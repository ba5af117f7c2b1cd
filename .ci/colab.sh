#!/usr/bin/env bash
# Colab, simulated: build the wheel, install it into a clean virtual environment outside the checkout,
# and execute chapter 1 there in a kernel that looks like Colab's (a stand-in google.colab, Drive mounted
# into a temporary folder, a local "PhysioNet" serving the excerpt). The chapter's install cell installs
# the wheel (its only change: the wheel instead of the git URL), its setup cell picks the mode from the
# device (MODE = "auto" -> fast on this CPU), downloads PTB-XL and keeps it on the stand-in Drive.
# Usage: bash .ci/colab.sh   (after `make setup`; needs ../shared/data/ptb-xl)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
stamp() { echo "[colab] $1 after $(( $(date +%s) - t0 )) s"; }
PYTHON="${PYTHON:-python3}"
excerpt="${PROTOECG_EXCERPT:-../shared/data/ptb-xl}"
[ -f "$excerpt/SHA256SUMS.txt" ] || { echo "[colab] no PTB-XL excerpt at $excerpt (set PROTOECG_EXCERPT)"; exit 1; }
excerpt="$(cd "$excerpt" && pwd)"
repo="$PWD"
work="$(mktemp -d "${TMPDIR:-/tmp}/protoecg-colab.XXXXXX")"
trap 'rm -rf "$work"' EXIT

mkdir "$work/src"   # build from a copy: setuptools leaves build/ and *.egg-info beside the sources
cp -r pyproject.toml README.md LICENSE protoecg_lib "$work/src/"
.venv/bin/pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w "$work/dist" "$work/src"
wheel="$(ls "$work"/dist/protoecg_lib-*.whl)"
stamp "wheel $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"

"$PYTHON" -m venv "$work/venv"
V="$work/venv/bin"
$V/pip install -q --disable-pip-version-check torch==2.13.0
# the wheel's dependencies at CI's pinned versions, and a kernel; then the wheel goes again, so that the
# chapter's install cell is what installs it
$V/pip install -q --disable-pip-version-check -c requirements-ci.txt "$wheel" ipykernel nbclient nbformat
$V/pip uninstall -q -y protoecg-lib
stamp "clean venv in $work/venv"

cp -r .ci/colab "$work/colab-standin"
cp notebooks/01_ptbxl_and_its_labels.ipynb "$work/"
(cd "$work" && env -u PROTOECG_FAST -u PROTOECG_DATA -u PROTOECG_CACHE -u PROTOECG_MODE -u PYTHONPATH \
  "$V/python" "$repo/.ci/colab_run.py" --wheel "$wheel" --notebook 01_ptbxl_and_its_labels.ipynb \
  --excerpt "$excerpt" --standin "$work/colab-standin" --work "$work")
stamp "chapter 1 executed against the wheel"
