#!/usr/bin/env bash
# Which model should the no-key demo serve? Runs the same VITAL items through EthosAgents with
# each candidate model on the real llama-server (2 threads, 4 slots, as scripts/serve.sh starts
# it), one item at a time as a visitor runs them, with the embedded default's settings (k = 6,
# JSON perspectives), and prints per model and mode what `ethos quality` reads off the runs:
#   k_distinct  share of runs whose k perspectives have k different names
#   filled      share of perspectives whose five dimensions hold values (not the field names)
#   lettered    share of comments on items with options that start with an option letter
#   s/item      seconds from an item's start to its finish
#
#   bench/default_model/run.sh                 10 items per mode, smollm2, qwen (0.5B) and qwen15 (1.5B)
#   ITEMS=3 MODELS=qwen bench/default_model/run.sh
#
# Modes: Overton (ValueKaleidoscope), Steerable (OpinionQA, group steering), Distributional
# (MoralChoice): the first ITEMS items of each file shipped in public/vital/. Runs go to
# $ETHOS_CACHE/default-model/<model>/<mode>.<from>-<to>.json, in parts of 5 items (a rerun
# resumes: delete the folder to measure again).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ETHOS_ROOT"
items="${ITEMS:-10}"
models="${MODELS:-smollm2 qwen qwen15}"
k="${K:-6}"
port="${BENCH_LLM_PORT:-8096}"
out="${ETHOS_CACHE:-$HOME/.cache/ethos-agents}/default-model"
mkdir -p "$out"

scripts/llama-server.sh build
cargo build --locked --release -q -p ethos-cli
ethos="${CARGO_TARGET_DIR:-target}/release/ethos"

files=(
  "overton:public/vital/vital_overton_valuekaleidoscope.json"
  "steerable:public/vital/vital_steerable_opinionqa.json"
  "distributional:public/vital/vital_distributional_moralchoice.json"
)

stop() { PORT="$port" scripts/llama-server.sh stop >/dev/null 2>&1 || true; }
trap stop EXIT

rows=()
for model in $models; do
  stop
  SERVE_MODEL="$model" PORT="$port" scripts/llama-server.sh start
  alias="$(curl -s "http://127.0.0.1:$port/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
  for entry in "${files[@]}"; do
    mode="${entry%%:*}"
    file="${entry#*:}"
    dir="$out/$model"
    mkdir -p "$dir"
    log "$model · $mode: $items items, k = $k"
    start=$(date +%s)
    # In parts of 5 items (a part already run is resumed, not repeated), so a larger ITEMS adds
    # runs to the ones measured before; the figures read all parts' records together.
    for ((from = 1; from <= items; from += 5)); do
      to=$(( from + 4 < items ? from + 4 : items ))
      ids="$(python3 - "$file" "$from" "$to" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))
print(",".join(str(i["id"]) for i in items[int(sys.argv[2]) - 1:int(sys.argv[3])]))
PY
)"
      part="$dir/$mode.$from-$to.json"
      "$ethos" run --file "$file" --method ethosagents --provider openai \
        --base-url "http://127.0.0.1:$port/v1" --model "$alias" --ids "$ids" --k "$k" \
        --perspectives json --concurrency 4 --items-in-flight 1 \
        --out "$part" >"$part.summary.json" 2>"$part.log" || true
    done
    wall=$(( $(date +%s) - start ))
    cat "$dir/$mode".*-*.json.records.jsonl >"$dir/$mode.records.jsonl"
    q="$("$ethos" quality "$dir/$mode.records.jsonl")"
    rows+=("$model $mode $wall $q")
  done
done
stop

python3 - "$items" "${rows[@]}" <<'PY'
import json, sys
items = int(sys.argv[1])
print(f"\n{'model':<10} {'mode':<15} {'runs':>4} {'k_distinct':>10} {'filled':>7} {'lettered':>8} {'s/item':>7}")
for row in sys.argv[2:]:
    model, mode, wall, q = row.split(" ", 3)
    q = json.loads(q)
    f = lambda v: "—" if v is None else f"{v:.2f}"
    s = "—" if q["seconds_per_run"] is None else f"{q['seconds_per_run']:.1f}"
    print(f"{model:<10} {mode:<15} {q['runs']:>4} {f(q['k_distinct']):>10} {f(q['filled']):>7} {f(q['lettered']):>8} {s:>7}")
PY
