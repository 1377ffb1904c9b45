#!/usr/bin/env bash
# Build the app's wasm into a Trunk staging dir and start it from index.html (Trunk's post_build
# hook; index.html has no `rel="rust"` link because Trunk 0.21 cannot split a wasm).
#
#   scripts/build-wasm.sh STAGING_DIR [release|debug]
#
# release: cargo build --features split (linked with --emit-relocs) -> wasm-split (the parts of
#   the page in src/chunks.rs go to chunks fetched on first use) -> wasm-bindgen -> wasm-opt -Oz
#   on every piece. debug: one unsplit wasm, no wasm-opt (fast rebuilds under `trunk serve`).
#   SPLIT=0 with release: one wasm, optimised (the shell benchmark's side-by-side baseline).
# Every piece goes to STAGING_DIR/wasm-<hash>/ (the hash of its contents: a new build never
# mixes with a cached older one) and STAGING_DIR/index.html gets the start-up script and the
# preload links. Tools (setup.sh): wasm-bindgen as in Cargo.lock, wasm-opt 132 (npm binaryen),
# wasm-split-cli (crate wasm_split_cli_support, in $ETHOS_CACHE).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
STAGE="${1:?usage: scripts/build-wasm.sh STAGING_DIR [release|debug]}"
PROFILE="${2:-${TRUNK_PROFILE:-debug}}"
source "$HERE/env.sh"
die() { echo "build-wasm.sh: $*" >&2; exit 1; }

cd "$ROOT"
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
work="$target_dir/app-web/$PROFILE"
rm -rf "$work" && mkdir -p "$work"
if [[ "$PROFILE" == "release" && "${SPLIT:-1}" == "1" ]]; then
    split="$(wasm_split_bin)"
    [[ -x "$split" ]] || die "wasm-split-cli $WASM_SPLIT_VERSION is missing: run scripts/setup.sh"
    # The relocations tell wasm-split which function and data refer to which (.cargo/config.toml
    # has the other flags; RUSTFLAGS would replace them, so they are repeated here).
    RUSTFLAGS="--cfg erase_components -C link-args=--emit-relocs" \
        cargo build --locked --release --target wasm32-unknown-unknown -p ethos-app --bin ethos-app \
        --features split --target-dir "$target_dir/app-split"
    "$split" "$target_dir/app-split/wasm32-unknown-unknown/release/ethos-app.wasm" "$work" \
        --out-name ethos-app >/dev/null
    wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
        --out-dir "$work" --out-name ethos-app "$work/ethos-app.wasm"
    rm "$work/ethos-app.wasm"
else
    flag=(); [[ "$PROFILE" == "release" ]] && flag=(--release)
    cargo build --locked "${flag[@]}" --target wasm32-unknown-unknown -p ethos-app --bin ethos-app
    wasm-bindgen --target web --no-typescript --out-dir "$work" --out-name ethos-app \
        "$target_dir/wasm32-unknown-unknown/$PROFILE/ethos-app.wasm"
fi
if [[ "$PROFILE" == "release" ]]; then
    # -Oz with --low-memory-unused (2.6 KB less gzip): Rust's wasm stack comes first and grows
    # down from 1 MB, so addresses below 1024 are only reached by a stack already overflowing.
    for w in "$work"/*.wasm; do
        wasm-opt -Oz --low-memory-unused "$w" -o "$w.opt" && mv "$w.opt" "$w"
    done
fi

hash="$(cat "$work"/* | sha256sum | cut -c1-16)"
out="$STAGE/wasm-$hash"
rm -rf "$STAGE"/wasm-*/ && mkdir -p "$out" && cp "$work"/* "$out/"
python3 - "$STAGE" "wasm-$hash" <<'PY'
import base64, hashlib, os, re, sys
stage, folder = sys.argv[1:3]
path = os.path.join(stage, "index.html")
html = open(path, encoding="utf-8").read()

def sri(name):
    data = open(os.path.join(stage, folder, name), "rb").read()
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()

js, wasm = f"./{folder}/ethos-app.js", f"./{folder}/ethos-app_bg.wasm"
start = (
    f'<link rel="modulepreload" href="{js}" crossorigin="anonymous" integrity="{sri("ethos-app.js")}" />\n'
    f'    <link rel="preload" href="{wasm}" crossorigin="anonymous" integrity="{sri("ethos-app_bg.wasm")}" as="fetch" type="application/wasm" />\n'
    f'    <script type="module">\nimport init from "{js}";\nawait init({{ module_or_path: "{wasm}" }});\n</script>'
)
marker = "<!-- the app's wasm (scripts/build-wasm.sh) -->"
if marker not in html:
    sys.exit(f"build-wasm.sh: {path} has no {marker!r} line")
html = html.replace(marker, start, 1)
# Trunk's placeholder for the app (<link data-trunk rel="rust" data-trunk-skip>) has done its job.
html = re.sub(r'\s*<link data-trunk rel="rust" data-trunk-skip[^>]*>', "", html)
open(path, "w", encoding="utf-8").write(html)
PY
