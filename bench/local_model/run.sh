#!/usr/bin/env bash
# One command: in-tab model (headless Chromium) vs native llama-server on the same GGUF.
# See run.py for options (--tokens N, --gguf PATH, --skip-build, --wllama, --only wllama).
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/run.py" "$@"
