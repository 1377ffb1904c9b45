# Sourced by the project's scripts: where cached tools live, and PATH for them.
ETHOS_CACHE="${ETHOS_CACHE:-$HOME/.cache/ethos-agents}"
ETHOS_BIN="$ETHOS_CACHE/bin"
export ETHOS_CACHE ETHOS_BIN
export PATH="$ETHOS_BIN:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
TRUNK_VERSION="0.21.14"
BINARYEN_VERSION="132.0.0"
ETHOS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ETHOS_ROOT
log() { printf '\033[1m[ethos]\033[0m %s\n' "$*" >&2; }
# The venv with the oracle tests' SciPy and scikit-learn (scripts/setup.sh installs it).
oracle_venv() {
  local h
  h="$(sha256sum "$ETHOS_ROOT/crates/ethos-engine/tests/oracle/requirements.txt" | cut -c1-12)"
  printf '%s/oracle-venv-%s' "$ETHOS_CACHE" "$h"
}
