#!/usr/bin/env bash
# Does the whole suite pass again and again on a busy machine? Runs `.ci/run` (which runs
# scripts/test.sh) N times in a row on a clean clone of HEAD, with a real build running beside it,
# stops at the first failure, and prints one line per run: result, minutes, the 1-minute load
# average sampled every 30 s (min / mean / max).
#
#   bench/flake-check.sh [N] [--beside build|none]
#
# --beside build (default): a second clone rebuilds the CLI in release mode over and over (an
#   engine file is touched before each build, so every round compiles engine, providers and CLI)
#   in its own target directory, at nice 10 (it takes the CPU the suite leaves; the load figures
#   show how much that was), for as long as the runs last.
# --beside none: no extra load (use it when other work already keeps the machine busy; the load
#   figures say how busy it was).
# Logs: $ETHOS_CACHE/flake-check/run-K.log (ETHOS_CACHE defaults to ~/.cache/ethos-agents).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
n=5
beside=build
while [ $# -gt 0 ]; do
  case "$1" in
    --beside) beside="${2:?--beside build|none}"; shift 2 ;;
    [0-9]*) n="$1"; shift ;;
    *) echo "usage: bench/flake-check.sh [N] [--beside build|none]" >&2; exit 2 ;;
  esac
done
case "$beside" in build|none) ;; *) echo "--beside build|none" >&2; exit 2 ;; esac

cache="${ETHOS_CACHE:-$HOME/.cache/ethos-agents}"
out="$cache/flake-check"
mkdir -p "$out"
work="$(mktemp -d)"
git clone -q "$here" "$work/p"
commit="$(git -C "$work/p" rev-parse --short HEAD)"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$beside" = build ]; then
  git clone -q "$here" "$work/beside"
  (
    set -m
    cd "$work/beside"
    export CARGO_TARGET_DIR="$cache/flake-check-beside-target"
    while true; do
      touch crates/ethos-engine/src/lib.rs
      nice -n 10 cargo build --release --locked -q -p ethos-cli >/dev/null 2>&1 || true
    done
  ) &
  pids+=($!)
fi

summary="$out/summary.txt"
echo "flake check of $commit: $n runs of .ci/run, beside: $beside ($(date -u +%FT%TZ))" | tee "$summary"
for k in $(seq 1 "$n"); do
  loads="$out/load-$k.txt"
  : > "$loads"
  ( while true; do cut -d' ' -f1 /proc/loadavg >> "$loads"; sleep 30; done ) &
  sampler=$!
  t0=$(date +%s)
  if (cd "$work/p" && bash .ci/run) > "$out/run-$k.log" 2>&1; then rc=0; else rc=$?; fi
  kill "$sampler" 2>/dev/null || true
  mins=$(awk -v s=$(( $(date +%s) - t0 )) 'BEGIN { printf "%.1f", s / 60 }')
  load=$(awk 'NR == 1 { mn = $1; mx = $1 } { s += $1; if ($1 < mn) mn = $1; if ($1 > mx) mx = $1 }
    END { if (NR) printf "%.2f / %.2f / %.2f", mn, s / NR, mx; else printf "-" }' "$loads")
  result=$([ "$rc" = 0 ] && echo pass || echo "FAIL (rc $rc)")
  echo "run $k: $result in $mins min; load min/mean/max $load; log $out/run-$k.log" | tee -a "$summary"
  if [ "$rc" != 0 ]; then
    grep -E "^test .* FAILED|panicked|^error" "$out/run-$k.log" | head -20 | tee -a "$summary" || true
    exit 1
  fi
done
echo "all $n runs passed" | tee -a "$summary"
