#!/usr/bin/env bash
# The k-quant kernels (crates/ethos-local/src/quants.rs, kquant_simd.rs) alone, in wasm with
# relaxed-simd as the worker is built, timed in headless Chromium (the V8 the tab runs; --node:
# Node's, which is older and compiles the same wasm differently): nanoseconds per token and
# 256-value block on the prompt path (a batch of tokens per row) and the generation path (one
# token: a row a call, and 32 rows a call as the model's matrix products), for Q4_K, Q5_K and
# Q6_K rows of 1536 × 1536. About a minute: the tool for trying a kernel change before
# bench/local_model/run.sh measures the whole model.
#
#   bench/kernels/run.sh [--node]                 this working tree
#   bench/kernels/run.sh [--node] --against REF   REF (e.g. HEAD, main) and this working tree,
#                                                 side by side in one run, with the ratios
# Extra arguments go to run.js (--rows N --cols N --tokens N --rounds N).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ETHOS_ROOT/bench/kernels"
against=""; engine=chromium
if [ "${1:-}" = "--node" ]; then engine=node; shift; fi
if [ "${1:-}" = "--against" ]; then against="$2"; shift 2; fi
export RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd"
target="${CARGO_TARGET_DIR:-$ETHOS_ROOT/target}/kernel-bench"
out="$(mktemp -d)"; trap 'rm -rf "$out"; [ -z "${tree:-}" ] || git -C "$ETHOS_ROOT" worktree remove --force "$tree"' EXIT
build() { # $1: directory holding bench/kernels; $2: output name
  (cd "$1/bench/kernels" && CARGO_TARGET_DIR="$target/$2" cargo build -q --release --target wasm32-unknown-unknown)
  cp "$target/$2/wasm32-unknown-unknown/release/ethos_kernel_bench.wasm" "$out/$2.wasm"
}
builds=()
if [ -n "$against" ]; then
  tree="$out/tree"
  git -C "$ETHOS_ROOT" worktree add --detach -q "$tree" "$against"
  mkdir -p "$tree/bench/kernels"; cp -r Cargo.toml Cargo.lock src "$tree/bench/kernels/"
  log "building the kernels of $against"
  # REF may lack an entry point this tree's exports call: then REF's own exports.
  if ! build "$tree" ref 2>/dev/null; then
    git -C "$tree" checkout -q -- bench/kernels 2>/dev/null || { echo "$against has no bench/kernels" >&2; exit 1; }
    build "$tree" ref
  fi
  builds+=("$against=$out/ref.wasm")
fi
log "building the kernels of this working tree"
build "$ETHOS_ROOT" tree
builds+=("tree=$out/tree.wasm")
if [ "$engine" = node ]; then
  node --no-liftoff --experimental-wasm-relaxed-simd run.js "${builds[@]}" "$@"
else
  cp run.js page.html worker.js "$out/"
  python3 chromium.py "$out" "${builds[@]}" "$@"
fi
