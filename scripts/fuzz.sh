#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of every parser that reads outside data: the
# targets in fuzz/fuzz_targets, each started from its committed seed corpus in fuzz/seeds.
# Runs on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo fuzz pass its -Z flags) with
# AddressSanitizer. Installs cargo-fuzz (pinned) into the project cache when missing.
#
#   scripts/fuzz.sh                 the CI budget: every target FUZZ_RUNS times (default 150000;
#                                   record and share, whose inputs are whole exported runs, a
#                                   quarter of that; >= 10^6 in all), fixed libFuzzer seed, fresh
#                                   corpus
#   scripts/fuzz.sh --time SECONDS  a longer campaign: every target for SECONDS, keeping what it
#                                   finds in fuzz/corpus/TARGET (not committed)
#   scripts/fuzz.sh [...] TARGET…   only those targets
# A crash stops the script (exit 1) and leaves the input in fuzz/artifacts/TARGET; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…   (from the repo root)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ETHOS_ROOT"

CARGO_FUZZ_VERSION="0.13.2"
fuzz_root="$ETHOS_CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"
if [ "$("$fuzz_root/bin/cargo-fuzz" --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  log "cargo-fuzz $CARGO_FUZZ_VERSION: present"
else
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION (about 3 minutes)"
  cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --root "$fuzz_root"
fi
export PATH="$fuzz_root/bin:$PATH"
export RUSTC_BOOTSTRAP=1

runs="${FUZZ_RUNS:-150000}"; seconds=""
if [ "${1:-}" = "--time" ]; then seconds="$2"; shift 2; fi
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo fuzz list)

# A target dir of its own: the instrumented build must not evict the project's normal one.
target_dir="${CARGO_TARGET_DIR:-$ETHOS_ROOT/target}/fuzz"
common=(--sanitizer address --target-dir "$target_dir")
log "building ${#targets[@]} fuzz targets (release, debug assertions, AddressSanitizer)"
cargo fuzz build "${common[@]}"

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
total=0
for t in "${targets[@]}"; do
  if [ -n "$seconds" ]; then
    corpus="fuzz/corpus/$t"; mkdir -p "$corpus"
    limit=(-max_total_time="$seconds")
  else
    corpus="$work/$t"; mkdir -p "$corpus"
    case "$t" in
      record|share) n_runs=$(( runs / 4 )) ;;
      *) n_runs="$runs" ;;
    esac
    limit=(-runs="$n_runs" -seed=1)
  fi
  log "fuzz $t"
  if ! cargo fuzz run "${common[@]}" "$t" "$corpus" "fuzz/seeds/$t" -- \
      "${limit[@]}" -timeout=60 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
      >"$work/$t.log" 2>&1; then
    tail -n 60 "$work/$t.log" >&2
    echo "fuzz target $t failed: see the input in fuzz/artifacts/$t" >&2
    exit 1
  fi
  n="$(awk '/^stat::number_of_executed_units:/{print $2}' "$work/$t.log" | tail -n 1)"
  cov="$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -n 1 || true)"
  printf '%-18s %10s executions  %s\n' "$t" "$n" "$cov"
  total=$(( total + n ))
done
printf '%-18s %10s executions, 0 crashes\n' "all targets" "$total"
if [ -z "$seconds" ] && [ "${#targets[@]}" -eq "$(cargo fuzz list | wc -l)" ] && [ "$total" -lt 1000000 ]; then
  echo "fewer than 10^6 executions in all ($total): raise FUZZ_RUNS" >&2
  exit 1
fi
