#!/usr/bin/env bash
# Serve the app on its embedded default: build the release app, start the local llama.cpp server
# with Qwen2.5-Coder-1.5B-Instruct (no key needed), point the app at it, and serve dist/ on
# http://127.0.0.1:8080/. SERVE_MODEL=qwen serves Qwen2.5-Coder-0.5B (a smaller download, as fast
# per item here, fewer distinct perspectives), SERVE_MODEL=smollm2 SmolLM2-135M (faster, but too
# small to play the method's parts). Chosen by measurement: bench/RESULTS.md, "The embedded default".
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ETHOS_ROOT"
scripts/setup.sh --no-browser
scripts/llama-server.sh build
export SERVE_MODEL="${SERVE_MODEL:-qwen15}"
case "$SERVE_MODEL" in
  qwen15) model="qwen2.5-coder-1.5b"
        note="Qwen2.5-Coder-1.5B-Instruct runs locally (about 1.5 minutes per item at k = 6 on 2 cores); a small model: it shows the method's flow and real perspectives, not what a capable model would answer." ;;
  qwen) model="qwen2.5-coder-0.5b"
        note="Qwen2.5-Coder-0.5B-Instruct runs locally (about 1.5 minutes per item at k = 6 on 2 cores); a small model: it shows the method's flow and real perspectives, not what a capable model would answer." ;;
  smollm2) model="smollm2"
        note="SmolLM2-135M runs locally for trying the flow; it is far too small to judge the method." ;;
  *) echo "SERVE_MODEL must be qwen15, qwen or smollm2" >&2; exit 2 ;;
esac
export ETHOS_LLM_PORT="${ETHOS_LLM_PORT:-8088}"
PORT="$ETHOS_LLM_PORT" scripts/llama-server.sh start
trap 'PORT="$ETHOS_LLM_PORT" scripts/llama-server.sh stop || true' EXIT
cargo fetch --locked >/dev/null
trunk build --release --locked --offline
# The embedded default: the app reads this file at start-up and preselects the local server.
cat > dist/ethos-config.json <<JSON
{"preset": "llamacpp", "base_url": "http://127.0.0.1:$ETHOS_LLM_PORT/v1", "model": "$model", "structured_perspectives": true, "note": "$note"}
JSON
port="${APP_PORT:-8080}"
log "EthosAgents is at http://127.0.0.1:$port/  (LLM server: http://127.0.0.1:$ETHOS_LLM_PORT/v1; Ctrl-C stops both)"
# With the cross-origin isolation headers, so the in-tab model can use its threaded build.
python3 scripts/static_server.py dist "$port"
