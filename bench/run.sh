#!/usr/bin/env bash
# One command for the app benchmarks: builds the release app, then prints every figure.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ETHOS_ROOT"
scripts/setup.sh
cargo fetch --locked >/dev/null
trunk build --release --locked --offline
# The same app as one wasm, for the shell benchmark's side-by-side first paint.
SPLIT=0 trunk build --release --locked --offline --dist dist-unsplit
cargo bench -p ethos-e2e --bench app
cargo bench -p ethos-e2e --bench perf
cargo bench -p ethos-e2e --bench batch
cargo bench -p ethos-cli --bench scale
cargo bench -p ethos-engine --bench scoring
bench/real_model.sh
cargo bench -p ethos-e2e --bench local_ui
