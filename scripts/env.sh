# Sourced by the project's scripts: where cached tools live, and PATH for them.
ETHOS_CACHE="${ETHOS_CACHE:-$HOME/.cache/ethos-agents}"
ETHOS_BIN="$ETHOS_CACHE/bin"
export ETHOS_CACHE ETHOS_BIN
export PATH="$ETHOS_BIN:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
TRUNK_VERSION="0.21.14"
BINARYEN_VERSION="132.0.0"
# wasm-split (crate wasm_split_cli_support, binary wasm-split-cli): the release build's chunks.
WASM_SPLIT_VERSION="0.2.4"
wasm_split_bin() { printf '%s/wasm-split-%s/bin/wasm-split-cli' "$ETHOS_CACHE" "$WASM_SPLIT_VERSION"; }
# The accessibility audit tools (npm, pinned): axe-core for the e2e audit, Lighthouse for the scores.
AXE_VERSION="4.11.0"
LIGHTHOUSE_VERSION="12.8.2"
# Where scripts/setup.sh puts them (node_modules/axe-core/axe.min.js, node_modules/.bin/lighthouse).
a11y_tools() { printf '%s/a11y-axe-%s-lh-%s' "$ETHOS_CACHE" "$AXE_VERSION" "$LIGHTHOUSE_VERSION"; }
# The second browser's driver (tests/e2e_firefox.rs): geckodriver, built from crates.io.
GECKODRIVER_VERSION="0.37.1"
geckodriver_bin() { printf '%s/geckodriver-%s/bin/geckodriver' "$ETHOS_CACHE" "$GECKODRIVER_VERSION"; }
ETHOS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ETHOS_ROOT
log() { printf '\033[1m[ethos]\033[0m %s\n' "$*" >&2; }
# The venv with the oracle tests' SciPy and scikit-learn (scripts/setup.sh installs it).
oracle_venv() {
  local h
  h="$(sha256sum "$ETHOS_ROOT/crates/ethos-engine/tests/oracle/requirements.txt" | cut -c1-12)"
  printf '%s/oracle-venv-%s' "$ETHOS_CACHE" "$h"
}
