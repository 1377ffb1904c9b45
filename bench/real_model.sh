#!/usr/bin/env bash
# Real model: calls and tokens per item, per mode and method, with the local SmolLM2-135M
# llama.cpp server (scripts/llama-server.sh), through `ethos run` (the same engine and batch
# module as the app's benchmark mode). Prints a Markdown table.
#
# Environment: ETHOS_REAL_N items per file (3), ETHOS_REAL_K perspectives (3).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ETHOS_ROOT"
n="${ETHOS_REAL_N:-3}"
k="${ETHOS_REAL_K:-3}"
port="${ETHOS_LLM_PORT:-8088}"
PORT="$port" scripts/llama-server.sh start >/dev/null
url="http://127.0.0.1:$port/v1"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo build --release --locked -q -p ethos-cli --features ethos-providers/native
ethos="${CARGO_TARGET_DIR:-$ETHOS_ROOT/target}/release/ethos"

echo
echo "## Real model (SmolLM2-135M-Instruct Q4_1, llama.cpp, first $n items per file, k = $k)"
echo "| file (mode) | method | items done | failed | calls / item | prompt tokens / item | completion tokens / item |"
echo "|---|---|---:|---:|---:|---:|---:|"
for file in vital_distributional_moralchoice.json vital_distributional_globalopinionqa.json \
            vital_steerable_opinionqa.json vital_overton_valuekaleidoscope.json; do
  stem="${file%.json}"
  # The tiny model cannot keep the `#` line format: structured (JSON-schema) perspectives.
  if ! "$ethos" run --file "public/vital/$file" --first "$n" \
      --method ethosagents,vanilla,prompting --provider openai --base-url "$url" --model smollm2 \
      --k "$k" --concurrency 4 --perspectives json --out "$out/$stem.json" >"$out/$stem.summary" 2>"$out/$stem.log"; then
    echo "note: some items of $file failed (see below)" >&2
    tail -3 "$out/$stem.log" >&2
  fi
  python3 - "$file" "$out/$stem.summary" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read().strip().splitlines()
summary = json.loads(text[-1]) if text else {}
for method, r in summary.get("results", {}).items():
    done = r.get("done", 0)
    per = lambda key: f"{r.get(key, 0) / done:.1f}" if done else "—"
    # Per finished item; the calls and tokens of failed tasks are included (they were spent).
    print(f"| {name} | {method} | {done} | {r.get('failed', 0)} | {per('calls')} | {per('prompt_tokens')} | {per('completion_tokens')} |")
PY
done
