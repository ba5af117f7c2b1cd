#!/usr/bin/env bash
# Execute every chapter once in fast mode (nbmake), then build the book from the executed copies
# with warnings as errors. Output: _build/html. Called by `make book` (which installs everything).
#   PROTOECG_DATA  the PTB-XL root (default: ../shared/data/ptb-xl when present, else the library's choice)
#   PROTOECG_FAST  1 by default here (CPU); set to 0 for the paper's settings on a GPU
set -euo pipefail
cd "$(dirname "$0")/.."
export PROTOECG_FAST="${PROTOECG_FAST:-1}"
if [ -z "${PROTOECG_DATA:-}" ] && [ -f ../shared/data/ptb-xl/ptbxl_database.csv ]; then
  export PROTOECG_DATA="$(cd ../shared/data/ptb-xl && pwd)"
fi
export MPLBACKEND=Agg
python book/repository.py --check   # badges and install cells name _config.yml's repository.url
stage=_book_stage  # not under _build/: nbmake skips paths that contain "_build"
rm -rf "$stage" _build/html
mkdir -p _build
mkdir -p "$stage"
cp -r _config.yml _toc.yml book notebooks protoecg_lib _vendor "$stage"/   # protoecg_lib: for literalinclude
rm -rf "$stage"/notebooks/.ipynb_checkpoints
python book/make_figures.py "$stage/book/figures"   # figures of the markdown pages (architecture)
t0=$(date +%s)
# One kernel per chapter, BOOK_WORKERS kernels at a time; chapters share trained models through the
# cache, guarded by a lock. Each kernel gets cores / workers torch threads: two kernels of two OpenMP
# threads on two cores oversubscribe the CPU, and a training epoch then takes many times longer.
workers="${BOOK_WORKERS:-2}"
cores=$(nproc)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( cores / workers > 0 ? cores / workers : 1 ))}"
python -m pytest -q -n "$workers" --nbmake --overwrite --nbmake-timeout="${NB_TIMEOUT:-900}" \
  -p no:cacheprovider "$stage"/notebooks
t1=$(date +%s)
jupyter-book build -W -n --keep-going "$stage"
t2=$(date +%s)
mv "$stage/_build/html" _build/html
root_page=$(sed -n 's/^root: *//p' _toc.yml)   # the root page: book/intro -> _build/html/book/intro.html
test -f "_build/html/$root_page.html" || { echo "book: the root page _build/html/$root_page.html was not built" >&2; exit 1; }
echo "book: chapters executed in $((t1 - t0)) s, site built in $((t2 - t1)) s -> _build/html/$root_page.html (or _build/html/index.html)"
