#!/usr/bin/env bash
# Install what building and testing the app needs; skip each tool already present at the right
# version. Safe to re-run (a warm re-run takes a few seconds).
#   wasm32 target · rust-src · trunk 0.21.14 · wasm-bindgen-cli = the wasm-bindgen in Cargo.lock ·
#   wasm-split-cli 0.2.4 (crates.io) · wasm-opt (npm binaryen 132) · chromium + chromedriver, firefox-esr (Debian) and geckodriver
#   (crates.io) for the browser tests ·
#   axe-core + lighthouse (npm, pinned, for the accessibility audit) ·
#   SciPy + scikit-learn for the oracle tests (PyPI, pinned, in a venv under $ETHOS_CACHE)
# Usage: scripts/setup.sh [--no-browser]
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$ETHOS_BIN"
want_browser=1; [ "${1:-}" = "--no-browser" ] && want_browser=0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "wasm32-unknown-unknown: present"
else
  log "installing the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# rust-src: the threaded in-tab model build rebuilds std with atomics (build-worker.sh).
if rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
  log "rust-src: present"
else
  log "installing the rust-src component"
  rustup component add rust-src
fi
# std's own dependencies, fetched now so that the threaded build (-Z build-std) works offline.
RUSTC_BOOTSTRAP=1 cargo fetch --locked --manifest-path "$(rustc --print sysroot)/lib/rustlib/src/rust/library/Cargo.toml" >/dev/null 2>&1 ||
  log "could not fetch std's dependencies now (the threaded in-tab model build fetches them itself)"

if [ "$(trunk --version 2>/dev/null)" = "trunk $TRUNK_VERSION" ]; then
  log "trunk $TRUNK_VERSION: present"
else
  log "cargo install trunk $TRUNK_VERSION (about 8 minutes on 2 cores)"
  cargo install trunk --version "=$TRUNK_VERSION" --locked --force
fi

wbg="$(awk '$0=="name = \"wasm-bindgen\""{getline; gsub(/version = |"/,""); print; exit}' "$ETHOS_ROOT/Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $wbg" ] &&
   [ "$(wasm-bindgen-test-runner --version 2>/dev/null)" = "wasm-bindgen-test-runner $wbg" ]; then
  log "wasm-bindgen-cli $wbg: present"
else
  log "cargo install wasm-bindgen-cli $wbg (about 3 minutes)"
  # The locked build of some versions wants crates the registry no longer serves: fall back.
  cargo install wasm-bindgen-cli --version "=$wbg" --locked --force 2>/dev/null ||
    cargo install wasm-bindgen-cli --version "=$wbg" --force
fi

# wasm-split: the release build splits the wasm (scripts/build-wasm.sh).
if [ -x "$(wasm_split_bin)" ]; then
  log "wasm-split-cli $WASM_SPLIT_VERSION: present"
else
  log "cargo install wasm_split_cli_support $WASM_SPLIT_VERSION (about 2 minutes)"
  cargo install wasm_split_cli_support --version "=$WASM_SPLIT_VERSION" --features build-binary \
    --locked --root "$ETHOS_CACHE/wasm-split-$WASM_SPLIT_VERSION"
fi

want_opt="version_${BINARYEN_VERSION%%.*}"
prefix="$ETHOS_CACHE/binaryen-$BINARYEN_VERSION"
if [ ! -x "$prefix/node_modules/binaryen/bin/wasm-opt" ]; then
  command -v npm >/dev/null || { $SUDO apt-get update -qq; $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
  log "npm install binaryen@$BINARYEN_VERSION"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
fi
ln -sf "$prefix/node_modules/binaryen/bin/wasm-opt" "$ETHOS_BIN/wasm-opt"
got_opt="$(wasm-opt --version 2>/dev/null | awk '{print "version_"$3}')"
[ "$got_opt" = "$want_opt" ] || { echo "wasm-opt on PATH is $(command -v wasm-opt) ($got_opt), want $want_opt" >&2; exit 1; }
log "wasm-opt $want_opt: ok"

# The accessibility audit (tests/e2e_a11y.rs): axe-core is injected into the app; Lighthouse
# (bench/lighthouse.sh) scores accessibility and best practices. Both pinned in scripts/env.sh.
a11y="$(a11y_tools)"
if [ -f "$a11y/node_modules/axe-core/axe.min.js" ] && [ -x "$a11y/node_modules/.bin/lighthouse" ] && [ -f "$a11y/.complete" ]; then
  log "axe-core $AXE_VERSION + lighthouse $LIGHTHOUSE_VERSION: present"
else
  command -v npm >/dev/null || { $SUDO apt-get update -qq; $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
  log "npm install axe-core@$AXE_VERSION lighthouse@$LIGHTHOUSE_VERSION into $a11y"
  mkdir -p "$a11y"
  npm install --prefix "$a11y" --no-save --no-audit --no-fund --loglevel=error "axe-core@$AXE_VERSION" "lighthouse@$LIGHTHOUSE_VERSION"
  touch "$a11y/.complete"
fi

if [ "$want_browser" = 1 ]; then
  missing=()
  for p in chromium chromium-driver firefox-esr; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "chromium + chromedriver + firefox-esr: present"
  fi
  # Debian has no geckodriver package; it is published as a crate.
  gd="$(geckodriver_bin)"
  if [ "$("$gd" --version 2>/dev/null | head -n1 | awk '{print $2}')" = "$GECKODRIVER_VERSION" ]; then
    log "geckodriver $GECKODRIVER_VERSION: present"
  else
    log "cargo install geckodriver $GECKODRIVER_VERSION (about 5 minutes)"
    CARGO_TARGET_DIR="$ETHOS_CACHE/geckodriver-build" cargo install geckodriver --version "=$GECKODRIVER_VERSION" --locked --root "$ETHOS_CACHE/geckodriver-$GECKODRIVER_VERSION"
    rm -rf "$ETHOS_CACHE/geckodriver-build"
  fi
fi

# Oracle tests: SciPy and scikit-learn (pinned in the test tree) in a venv of their own, named by
# the hash of the pins so that a changed pin makes a fresh venv. scripts/test.sh exports its python.
oracle_req="$ETHOS_ROOT/crates/ethos-engine/tests/oracle/requirements.txt"
oracle_venv="$(oracle_venv)"
if [ -x "$oracle_venv/bin/python" ] && [ -f "$oracle_venv/.complete" ]; then
  log "oracle venv (scipy, scikit-learn): present"
else
  log "pip install the oracle venv (scipy, scikit-learn) into $oracle_venv"
  rm -rf "$oracle_venv"
  if ! python3 -m venv "$oracle_venv" 2>/dev/null; then
    # Debian's python3 needs python3-venv for ensurepip.
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    rm -rf "$oracle_venv"
    python3 -m venv "$oracle_venv"
  fi
  "$oracle_venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$oracle_req"
  touch "$oracle_venv/.complete"
fi
