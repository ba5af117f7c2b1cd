#!/usr/bin/env bash
# Fetch the JavaScript the book needs to render math and widgets offline (about 6 MB, from the npm
# registry) into _vendor/, which _config.yml serves as static files. Idempotent; _vendor/ is not in git.
#   @jupyter-widgets/html-manager 1.0.6 (BSD-3): embed-amd.js, what myst-nb 1.4 uses for ipywidgets 8
#   requirejs 2.3.7 (MIT): require.js;  mathjax 3.2.2 (Apache-2.0): tex-mml-chtml.js and its fonts
set -euo pipefail
cd "$(dirname "$0")/.."
dest=_vendor
if [ -f "$dest/.complete" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.7 mathjax@3.2.2 >/dev/null)
for f in "$tmp"/*.tgz; do mkdir -p "${f%.tgz}"; tar xzf "$f" -C "${f%.tgz}"; done
rm -rf "$dest"; mkdir -p "$dest/ipywidgets" "$dest/mathjax/output/chtml"
cp "$tmp"/jupyter-widgets-html-manager-1.0.6/package/dist/embed-amd.js "$dest/ipywidgets/"
cp "$tmp"/requirejs-2.3.7/package/require.js "$dest/ipywidgets/"
cp "$tmp"/mathjax-3.2.2/package/es5/tex-mml-chtml.js "$dest/mathjax/"
cp -r "$tmp"/mathjax-3.2.2/package/es5/output/chtml/fonts "$dest/mathjax/output/chtml/"
touch "$dest/.complete"
echo "vendored $(du -sh "$dest" | cut -f1) of JavaScript into $dest/"
