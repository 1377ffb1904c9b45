#!/usr/bin/env bash
# Build the in-tab model worker: wasm32 + simd128, wasm-bindgen --target web, plus js/worker.js.
#
#   crates/ethos-local/build-worker.sh [OUT_DIR]
#
# OUT_DIR (default $CARGO_TARGET_DIR/local-model-web, CARGO_TARGET_DIR defaulting to
# /work/target-localmodel) receives worker.js, ethos_local.js, ethos_local_bg.wasm and
# baseline/ (the same without relaxed-simd): serve them together (the app: copy the directory
# to dist/local-model/). The RUSTFLAGS here apply to this
# build only (own target dir), never to the app's.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-localmodel}"
OUT="${1:-$CARGO_TARGET_DIR/local-model-web}"
# simd128 for candle's Q8_0 kernels and ours; relaxed-simd (Chromium 114+; set
# RELAXED_SIMD= to build without it) for the Q4 dot products; getrandom via crypto.
# WASM_OPT=1 also runs wasm-opt -O3 (about 5 minutes here, a few % smaller).
export RUSTFLAGS="-C target-feature=+simd128${RELAXED_SIMD-,+relaxed-simd} --cfg getrandom_backend=\"wasm_js\" ${EXTRA_RUSTFLAGS:-}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3
export CARGO_PROFILE_RELEASE_LTO="${LTO:-fat}"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort
cd "$ROOT"
nice -n 19 cargo build -p ethos-local --lib --release --target wasm32-unknown-unknown \
    --no-default-features --features worker
WASM="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/ethos_local.wasm"
mkdir -p "$OUT"
wasm-bindgen --target web --no-typescript --out-dir "$OUT" "$WASM"
if command -v wasm-opt >/dev/null 2>&1 && [[ "${WASM_OPT:-0}" == "1" ]]; then
    wasm-opt -O3 --enable-simd --enable-relaxed-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals \
        "$OUT/ethos_local_bg.wasm" -o "$OUT/ethos_local_bg.wasm.opt" && mv "$OUT/ethos_local_bg.wasm.opt" "$OUT/ethos_local_bg.wasm"
fi
cp "$HERE/js/worker.js" "$OUT/worker.js"
# A second build without relaxed-simd for browsers that lack it (the worker picks at run time),
# in its own target dir so the two RUSTFLAGS sets do not rebuild each other. BASELINE=0 skips.
if [[ "${BASELINE:-1}" == "1" && -n "${RELAXED_SIMD-x}" ]]; then
    RELAXED_SIMD= CARGO_TARGET_DIR="$CARGO_TARGET_DIR/baseline" BASELINE=0 "$HERE/build-worker.sh" "$OUT/baseline" >/dev/null
    rm -f "$OUT/baseline/worker.js"
fi
# A third build with wasm threads (shared memory, +atomics), loaded when the page is cross-origin
# isolated (COOP/COEP headers): the matrix products are spread over helper workers
# (src/pool.rs, js/helper.js). std must be rebuilt with atomics (-Z build-std, the rust-src
# component; RUSTC_BOOTSTRAP lets the stable toolchain accept the flag) and the wait intrinsic
# is a nightly feature. THREADS=0 skips it; the worker then always runs single-threaded.
if [[ "${THREADS:-1}" == "1" && -n "${RELAXED_SIMD-x}" && "${BASELINE:-1}" == "1" ]]; then
    # A failure here is not fatal: without threads/ the worker runs the single-thread build.
    # The linker flags (shared, imported memory; the TLS exports wasm-bindgen's thread start-up
    # uses) go to the final crate only (`cargo rustc -- …`), so changing them relinks only.
    if RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$CARGO_TARGET_DIR/threads" \
        RUSTFLAGS="$RUSTFLAGS -C target-feature=+atomics,+bulk-memory,+mutable-globals" \
        nice -n 19 cargo rustc -Z build-std=std,panic_abort -p ethos-local --lib --release \
        --target wasm32-unknown-unknown --no-default-features --features worker -- \
        -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=2147483648 \
        -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size \
        -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base; then
        mkdir -p "$OUT/threads"
        wasm-bindgen --target web --no-typescript --out-dir "$OUT/threads" \
            "$CARGO_TARGET_DIR/threads/wasm32-unknown-unknown/release/ethos_local.wasm"
        cp "$HERE/js/helper.js" "$OUT/threads/helper.js"
    else
        echo "build-worker.sh: the threaded build failed (rust-src missing?); single-thread only" >&2
        rm -rf "$OUT/threads"
    fi
fi
ls -l "$OUT" >&2
echo "$OUT"
