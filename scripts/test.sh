#!/usr/bin/env bash
# Run every test of the project: installs what is missing (scripts/setup.sh), builds and starts
# the local llama.cpp server with SmolLM2 (scripts/llama-server.sh), builds the release app with
# trunk, then runs the native unit/integration tests and the headless-Chromium end-to-end tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ETHOS_ROOT"
t0=$(date +%s)

scripts/setup.sh
# The oracle tests' Python (SciPy, scikit-learn; installed by setup.sh): without it they skip.
export ETHOS_ORACLE_PYTHON="${ETHOS_ORACLE_PYTHON:-$(oracle_venv)/bin/python}"
# The accessibility audit tools (installed by setup.sh): tests/e2e_a11y.rs, e2e_lighthouse.rs.
export ETHOS_AXE_JS="${ETHOS_AXE_JS:-$(a11y_tools)/node_modules/axe-core/axe.min.js}"
export ETHOS_LIGHTHOUSE="${ETHOS_LIGHTHOUSE:-$(a11y_tools)/node_modules/.bin/lighthouse}"
# The second browser (tests/e2e_firefox.rs): Firefox ESR through geckodriver (setup.sh).
export GECKODRIVER="${GECKODRIVER:-$(geckodriver_bin)}"
scripts/llama-server.sh build
scripts/llama-server.sh model
# Qwen2.5-Coder-0.5B (~470 MB) and Python jinja2: the in-tab runtime's qwen2 checks against
# llama.cpp and its chat templates against jinja2 (crates/ethos-local/tests).
scripts/llama-server.sh qwen
scripts/llama-server.sh jinja
export ETHOS_LLM_PORT="${ETHOS_LLM_PORT:-8088}"
PORT="$ETHOS_LLM_PORT" scripts/llama-server.sh start
trap 'PORT="$ETHOS_LLM_PORT" scripts/llama-server.sh stop || true' EXIT
export ETHOS_LLM_URL="${ETHOS_LLM_URL:-http://127.0.0.1:$ETHOS_LLM_PORT/v1}"

log "building the release app (trunk build --release)"
cargo fetch --locked >/dev/null
trunk build --release --locked --offline

# Property tests: >= 100k cases in all (see crates/ethos-engine/tests/proptests.rs).
export PROPTEST_CASES="${PROPTEST_CASES:-20000}"
export ETHOS_E2E=1
log "cargo test (native: engine, providers against the real server and the fault server, cli, e2e in Chromium)"
cargo test --workspace --locked --features ethos-providers/native -- --test-threads="${TEST_THREADS:-2}"
log "fuzzing every parser of outside data (scripts/fuzz.sh: >= 10^6 executions, zero crashes)"
scripts/fuzz.sh
log "wasm tests (UI helpers, browser transport) in wasm-bindgen-test-runner"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
cargo test --locked --target wasm32-unknown-unknown -p ethos-app --lib
cargo test --locked --target wasm32-unknown-unknown -p ethos-providers --test web
log "wasm SIMD k-quant kernels against the scalar code: relaxed-simd in headless Chromium, simd128 in Node"
# Own target directory: these RUSTFLAGS would otherwise rebuild every wasm crate of the app.
kernels_target="${CARGO_TARGET_DIR:-$ETHOS_ROOT/target}/kernels-wasm"
for features in "+simd128,+relaxed-simd" "+simd128"; do
  env -u GECKODRIVER CARGO_TARGET_DIR="$kernels_target" RUSTFLAGS="-C target-feature=$features" \
    CHROMEDRIVER="$(command -v chromedriver)" cargo test --locked --target wasm32-unknown-unknown -p ethos-local --no-default-features \
    --features kernels --test kquant_simd_wasm
done
log "all tests done in $(( $(date +%s) - t0 ))s"
