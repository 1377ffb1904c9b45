#!/usr/bin/env python3
"""In-tab model vs native llama.cpp, one run, same GGUF, same chat prompt.

    bench/local_model/run.sh [--tokens N] [--gguf PATH] [--skip-build] [--wllama] [--only wllama] [--long N]

Builds the worker (crates/ethos-local/build-worker.sh), serves it with bench.js from a local
static server, runs it in headless Chromium (load from URL with progress, Cache Storage hit on
reload, warm-up, cancel, a greedy generation, delete from cache), then starts private
llama-server processes on the same GGUF (2 threads, as the project's server runs, and 1 thread)
with the same request, and prints prompt-processing and generation tokens/s side by side.
With --wllama it also runs llama.cpp compiled to wasm (npm @wllama/wllama, installed once into
~/.cache/ethos-agents/wllama-<version>) in headless Chromium on the same GGUF and chat request,
with n_threads=1 and 2, on a page served with COOP/COEP (cross-origin isolated, for the threads).
--only wllama skips the in-tab runtime (no worker build) and keeps wllama and llama-server.
Python standard library only (plus the npm package for --wllama).

Where the tab's time goes: ETHOS_BENCH_CHROME_FLAGS adds flags to every Chromium it starts, e.g.
`ETHOS_BENCH_CHROME_FLAGS="--js-flags=--prof"` writes V8's tick logs (isolate-*-v8.log, one per
worker) into the working directory; `node --prof-process <log>` lists the wasm functions by ticks.
"""
import argparse, glob, http.server, json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PROMPT = "Write a long, detailed essay about the history of medicine."
# The engine's distributional "read" template (ethos-engine template.rs) on the first VITAL
# MoralChoice item, with a fixed passage.
READ = "Answer the question with the help of the passage.\n\nPassage: {passage}\n\n{question}"
PASSAGE = "A surgeon's duty is to protect the patient: following the procedures is what respects the patient's trust and life."


def moralchoice_prompt():
    with open(os.path.join(ROOT, "public/vital/vital_distributional_moralchoice.json")) as f:
        item = json.load(f)[0]
    return READ.format(passage=PASSAGE, question=item["question"]), len(item["options"])


def letter_mapping(top, n):
    """The reference mapping (engine distribution::from_top_logprobs)."""
    import math
    probs = []
    for letter in "ABCDE"[:n]:
        hit = next((t for t in top if t["token"].strip() == letter), None)
        probs.append(math.exp(min(hit["logprob"], 0.0)) if hit else 0.0)
    s = sum(probs)
    return [p / s for p in probs] if s > 0 else [1.0 / n] * n


def same_text(a, b):
    """'True', or where two greedy outputs part (the runtimes round differently, so long outputs may drift)."""
    if a == b:
        return "True"
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"False (same first {n} of {len(a)}/{len(b)} chars; then {a[n:n + 30]!r} vs {b[n:n + 30]!r})"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def find_gguf(arg):
    for p in [arg, os.environ.get("ETHOS_LLM_GGUF"), "/work/cache/SmolLM2-135M-Instruct.Q4_1.gguf",
              os.path.expanduser("~/.cache/ethos-agents/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf")]:
        if p and os.path.isfile(p):
            return os.path.abspath(p)
    sys.exit("no GGUF found: pass --gguf or set ETHOS_LLM_GGUF (scripts/llama-server.sh model)")


WLLAMA_VERSION = "3.8.1"
WLLAMA_FILE_LIMIT = 2 * 1024 ** 3  # wllama's README: one file at most 2 GB (ArrayBuffer), else split


def wllama_lib(version):
    """The npm package's esm/ directory, installed once outside the repo."""
    base = os.path.expanduser(f"~/.cache/ethos-agents/wllama-{version}")
    esm = os.path.join(base, "node_modules", "@wllama", "wllama", "esm")
    if not (os.path.isfile(os.path.join(esm, "index.js")) and os.path.isfile(os.path.join(esm, "wasm", "wllama.wasm"))):
        npm = shutil.which("npm") or sys.exit("--wllama needs npm (scripts/setup.sh installs it)")
        os.makedirs(base, exist_ok=True)
        print(f"npm install @wllama/wllama@{version} into {base}", file=sys.stderr)
        subprocess.run([npm, "install", "--prefix", base, "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
                        "--ignore-scripts", "--no-update-notifier", "--loglevel=error", f"@wllama/wllama@{version}"], check=True, stdout=sys.stderr)
    return esm


def gguf_shards(gguf):
    """All files of a split GGUF (name-00001-of-0000N.gguf), else the file alone."""
    m = re.match(r"(.*)-(\d{5})-of-(\d{5})\.gguf$", gguf)
    if not m:
        return [gguf]
    shards = sorted(glob.glob(f"{m.group(1)}-[0-9][0-9][0-9][0-9][0-9]-of-{m.group(3)}.gguf"))
    if len(shards) != int(m.group(3)):
        sys.exit(f"split GGUF {gguf}: found {len(shards)} of {int(m.group(3))} shards")
    return shards


def serve(root, result):
    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=root, **k)
        def end_headers(self):
            # Cross-origin isolation (SharedArrayBuffer, wasm threads) for the wllama page and for
            # everything under /iso/ (the same files: the in-tab page with its threaded build,
            # as scripts/serve.sh serves the app); the plain in-tab page runs without it, as on a
            # static host that sends no such headers.
            if self.path.startswith("/wllama/") or self.path.startswith("/iso/"):
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            super().end_headers()
        def translate_path(self, path):
            return super().translate_path(path[len("/iso"):] if path.startswith("/iso/") else path)
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript", ".gguf": "application/octet-stream"}
        def log_message(self, *a):
            pass
        def do_POST(self):
            n = int(self.headers.get("content-length") or 0)
            result["data"] = json.loads(self.rfile.read(n) or b"{}")
            self.send_response(204); self.end_headers()
            result["event"].set()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def run_page(url, result, timeout):
    """Open url in a fresh headless Chromium and wait for the page's POST /result."""
    result["event"].clear(); result.pop("data", None)
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    profile = tempfile.mkdtemp(prefix="ethos-local-chrome-")
    browser = subprocess.Popen([chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                                f"--user-data-dir={profile}", *os.environ.get("ETHOS_BENCH_CHROME_FLAGS", "").split(), url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ok = result["event"].wait(timeout)
    finally:
        browser.terminate(); browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return result["data"] if ok else None


def post(url, body, timeout=600):
    r = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(r, timeout=timeout) as f:
        return json.loads(f.read())


def native(bin_path, gguf, threads, tokens, repeat):
    port = free_port()
    proc = subprocess.Popen([bin_path, "-m", gguf, "-a", "smollm2", "--host", "127.0.0.1", "--port", str(port),
                             "-c", "2048", "-np", "1", "-t", str(threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as f:
                    if f.status == 200:
                        break
            except Exception:
                time.sleep(0.2)
        body = {"model": "smollm2", "messages": [{"role": "user", "content": PROMPT}], "temperature": 0,
                "max_tokens": tokens, "seed": 1, "cache_prompt": False}
        post(f"http://127.0.0.1:{port}/v1/chat/completions", {**body, "max_tokens": 4})  # warm-up
        runs = [post(f"http://127.0.0.1:{port}/v1/chat/completions", body) for _ in range(repeat)]
        r = runs[0]
        best_p = max(x["timings"]["prompt_per_second"] for x in runs)
        best_g = max(x["timings"]["predicted_per_second"] for x in runs)
        t = r.get("timings", {})
        dp, n = moralchoice_prompt()
        d = post(f"http://127.0.0.1:{port}/v1/chat/completions", {"model": "smollm2", "messages": [{"role": "user", "content": dp}],
                 "temperature": 0, "max_tokens": 1, "logprobs": True, "top_logprobs": 20, "cache_prompt": False})
        dist = letter_mapping(d["choices"][0]["logprobs"]["content"][0]["top_logprobs"], n)
        return {"dist": dist,"prompt_tokens": t.get("prompt_n"), "prompt_tps": best_p,
                "generated_tokens": t.get("predicted_n"), "gen_tps": best_g,
                "text": r["choices"][0]["message"]["content"]}
    finally:
        proc.terminate(); proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--gguf")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--baseline", action="store_true", help="force the build without relaxed-simd")
    ap.add_argument("--repeat", type=int, default=3, help="measured generations per runtime; the best is reported")
    ap.add_argument("--backend", default="auto", choices=["auto", "fast", "candle"], help="runtime in the tab")
    ap.add_argument("--threads", type=int, default=2, help="also run the in-tab threaded build with this many threads, cross-origin isolated (1: skip)")
    ap.add_argument("--wllama", action="store_true", help="also run @wllama/wllama (llama.cpp in wasm) with 1 and 2 threads")
    ap.add_argument("--wllama-version", default=WLLAMA_VERSION)
    ap.add_argument("--only", choices=["all", "wllama"], default="all", help="wllama: skip the in-tab runtime (implies --wllama)")
    ap.add_argument("--raw", help="also write every runtime's raw figures (JSON) to this file")
    ap.add_argument("--long", type=int, default=0, metavar="N",
                    help="a long prompt instead: the first N MoralChoice questions to summarise (12: about 900 tokens)")
    a = ap.parse_args()
    if a.long > 0:
        global PROMPT
        with open(os.path.join(ROOT, "public/vital/vital_distributional_moralchoice.json")) as f:
            questions = [i["question"] for i in json.load(f)[:a.long]]
        PROMPT = "Summarise each of these moral questions in one sentence.\n\n" + "\n\n".join(questions)
    in_tab = a.only == "all"
    a.wllama = a.wllama or a.only == "wllama"
    gguf = find_gguf(a.gguf)
    target = os.environ.get("CARGO_TARGET_DIR", "/work/target-localmodel")
    pkg = os.path.join(target, "local-model-web")
    if in_tab and not a.skip_build:
        subprocess.run([os.path.join(ROOT, "crates/ethos-local/build-worker.sh"), pkg], check=True, stdout=subprocess.DEVNULL)
    site = tempfile.mkdtemp(prefix="ethos-local-bench-")
    wasm_bytes = 0
    if in_tab:
        for f in ["worker.js", "ethos_local.js", "ethos_local_bg.wasm"]:
            shutil.copy(os.path.join(pkg, f), site)
        for sub in ["baseline", "threads"]:
            if os.path.isdir(os.path.join(pkg, sub)):
                shutil.copytree(os.path.join(pkg, sub), os.path.join(site, sub))
        wasm_bytes = os.path.getsize(os.path.join(site, "ethos_local_bg.wasm"))
    for f in ["index.html", "bench.js"]:
        shutil.copy(os.path.join(HERE, f), site)
    os.symlink(gguf, os.path.join(site, "model.gguf"))
    wl_note, wl_models = None, []
    if a.wllama:
        shards = gguf_shards(gguf)
        too_big = [s for s in shards if os.path.getsize(s) > WLLAMA_FILE_LIMIT]
        if too_big:
            # Not split here: llama-gguf-split is not part of the llama-server we build.
            wl_note = (f"wllama skipped: {os.path.basename(too_big[0])} is {os.path.getsize(too_big[0])/1e9:.2f} GB, over wllama's "
                       "2 GB single-file limit; split it (llama-gguf-split --split-max-size 512M) and pass the first shard with --gguf")
        else:
            esm = wllama_lib(a.wllama_version)
            os.makedirs(os.path.join(site, "wllama", "lib"))
            for f in ["wllama.html", "wllama.js"]:
                shutil.copy(os.path.join(HERE, f), os.path.join(site, "wllama", "index.html" if f == "wllama.html" else f))
            shutil.copy(os.path.join(esm, "index.js"), os.path.join(site, "wllama", "lib", "index.js"))
            os.symlink(os.path.join(esm, "wasm", "wllama.wasm"), os.path.join(site, "wllama", "lib", "wllama.wasm"))
            for sh in shards:
                name = "model.gguf" if len(shards) == 1 else os.path.basename(sh)
                if len(shards) > 1:
                    os.symlink(sh, os.path.join(site, name))
                wl_models.append("../" + name)
            wl_note = (f"{len(shards)} file(s), largest {max(os.path.getsize(s) for s in shards)/1e6:.1f} MB: under wllama's "
                       "2 GB single-file limit, no split needed" if len(shards) == 1 else f"split GGUF, {len(shards)} shards loaded together")
    result = {"event": threading.Event()}
    httpd = serve(site, result)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    dist_prompt, n_options = moralchoice_prompt()
    tab, tab_mt, wl = None, None, {}
    try:
        if in_tab:
            def tab_run(prefix, threads):
                url = f"{base}{prefix}/index.html?" + urllib.parse.urlencode({"tokens": a.tokens, "prompt": PROMPT, "baseline": "1" if a.baseline else "0", "backend": a.backend, "repeat": a.repeat, "dist_prompt": dist_prompt, "n_options": n_options, "threads": threads})
                r = run_page(url, result, a.timeout)
                if r is None:
                    sys.exit("the page did not report within the timeout")
                if r.get("error"):
                    print(json.dumps(r, indent=1)); sys.exit("the page reported an error")
                return r
            tab = tab_run("", 1)
            if a.threads > 1 and not a.baseline:
                tab_mt = tab_run("/iso", a.threads)
        if wl_models:
            for threads in (1, 2):
                url = f"{base}/wllama/index.html?" + urllib.parse.urlencode({"models": ",".join(wl_models), "threads": threads, "tokens": a.tokens, "prompt": PROMPT, "repeat": a.repeat})
                r = run_page(url, result, a.timeout)
                if r is None:
                    r = {"error": "the wllama page did not report within the timeout"}
                if r.get("error"):
                    print(f"wllama n_threads={threads} failed:\n" + json.dumps(r, indent=1), file=sys.stderr)
                wl[threads] = r
    finally:
        httpd.shutdown()
        shutil.rmtree(site, ignore_errors=True)
    native_rust = None
    if in_tab:
        # The same runtime, native build, same GGUF and prompt.
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write(dist_prompt)
            prompt_file = f.name
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        out = subprocess.run(["nice", "-n", "19", "cargo", "run", "-q", "-p", "ethos-local", "--example", "dist", "--", gguf, prompt_file, str(n_options)],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        os.unlink(prompt_file)
        if out.returncode == 0:
            native_rust = json.loads(out.stdout)
        else:  # the figures above are still worth printing (e.g. the crate is mid-edit in the work tree)
            print("native build of the in-tab runtime failed (distribution check skipped):\n  " + "\n  ".join(out.stderr.strip().splitlines()[-3:]), file=sys.stderr)
    bin_path = os.environ.get("ETHOS_LLAMA_SERVER_BIN", os.path.expanduser("~/.cache/ethos-agents/llama-server-0.94.0/llama-server"))
    nat2 = native(bin_path, gguf, 2, a.tokens, a.repeat)
    nat1 = native(bin_path, gguf, 1, a.tokens, a.repeat)
    if in_tab:
        g = tab["generate"]["timings"]
        tab_p = tab["best_prompt_tps"]
        tab_g = tab["best_gen_tps"]
        print(f"GGUF: {gguf} ({os.path.getsize(gguf)/1e6:.1f} MB); worker wasm {wasm_bytes/1e6:.2f} MB; backend in tab: {tab['info'].get('backend')}, relaxed-simd build: {tab.get('relaxed_simd')}")
        print(f"load: {tab['load_ms']:.0f} ms from URL (progress events {tab['download_progress_events']}), reload {tab['reload_ms']:.0f} ms from cache={tab['reload_from_cache']}; cancel -> {tab['cancel_result']}; cache after delete: {tab['cached_after_delete']}")
    else:
        print(f"GGUF: {gguf} ({os.path.getsize(gguf)/1e6:.1f} MB); in-tab runtime not run (--only wllama)")
    if a.wllama:
        print(f"wllama: @wllama/wllama {a.wllama_version}; {wl_note}")
        for threads, r in sorted(wl.items()):
            if r.get("error"):
                print(f"  n_threads={threads}: ERROR {r['error'].splitlines()[0]}")
                continue
            print(f"  n_threads={threads}: crossOriginIsolated={r['cross_origin_isolated']}, SharedArrayBuffer={r['shared_array_buffer']}, "
                  f"libllama {r.get('libllama')}, threads used {r.get('n_threads')} (multi-thread: {r.get('multithread')}), "
                  f"GGUF chat template: {r.get('has_chat_template')}, fetch {r['fetch_ms']:.0f} ms + load {r['load_ms']:.0f} ms, wasm {os.path.getsize(os.path.join(esm, 'wasm', 'wllama.wasm'))/1e6:.1f} MB")
            for w in r.get("warnings", [])[:5]:
                print(f"    {w[:200]}")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared; figures are noisy)")
    print(f"best of {a.repeat} runs each; tokens/s from each runtime's own timers (worker performance.now(), llama-server and wllama timings)")
    print(f"{'runtime':38} {'prompt tok':>10} {'prompt tok/s':>12} {'gen tok':>8} {'gen tok/s':>10} {'gen vs -t 2':>11} {'prompt vs -t 2':>14}")
    def row(name, pt, pps, gt, gps):
        print(f"{name:38} {pt:>10} {pps:>12.1f} {gt:>8} {gps:>10.1f} {gps / nat2['gen_tps']:>10.2f}x {pps / nat2['prompt_tps']:>13.2f}x")
    if in_tab:
        row("in tab (headless Chromium, 1 thread)", g['prompt_tokens'], tab_p, g['generated_tokens'], tab_g)
    if tab_mt:
        gm = tab_mt["generate"]["timings"]
        row(f"in tab ({tab_mt['info'].get('threads')} thr, cross-origin isol.)", gm['prompt_tokens'], tab_mt["best_prompt_tps"], gm['generated_tokens'], tab_mt["best_gen_tps"])
    for threads, r in sorted(wl.items()):
        if not r.get("error"):
            row(f"wllama (headless Chromium, {r.get('n_threads')} thr)", r["prompt_tokens"], r["best_prompt_tps"], r["generated_tokens"], r["best_gen_tps"])
    for name, n in [("native llama-server -t 2", nat2), ("native llama-server -t 1", nat1)]:
        row(name, n['prompt_tokens'], n['prompt_tps'], n['generated_tokens'], n['gen_tps'])
    if in_tab:
        print(f"tab / native(-t 2) generation: {tab_g / nat2['gen_tps']:.2f}x; prompt: {tab_p / nat2['prompt_tps']:.2f}x")
        print(f"tab / native(-t 1) generation: {tab_g / nat1['gen_tps']:.2f}x")
    if tab_mt:
        print(f"tab {tab_mt['info'].get('threads')} threads / native(-t 2) generation: {tab_mt['best_gen_tps'] / nat2['gen_tps']:.2f}x (target >= 0.6x); "
              f"prompt: {tab_mt['best_prompt_tps'] / nat2['prompt_tps']:.2f}x (target >= 0.5x); crossOriginIsolated={tab_mt.get('cross_origin_isolated')}")
    for threads, r in sorted(wl.items()):
        if not r.get("error"):
            print(f"wllama {threads} thr / native(-t {threads}) generation: {r['best_gen_tps'] / (nat1 if threads == 1 else nat2)['gen_tps']:.2f}x, "
                  f"prompt: {r['best_prompt_tps'] / (nat1 if threads == 1 else nat2)['prompt_tps']:.2f}x; "
                  f"greedy text identical to llama-server -t 2's: {same_text(r['text'], nat2['text'])}")
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump({"load_average": os.getloadavg(), "in_tab": tab, "in_tab_threads": tab_mt, "wllama": wl, "llama_server_t2": nat2, "llama_server_t1": nat1}, f, indent=1)
    if not in_tab:
        return
    print(f"longest main-thread task during generation: {tab.get('longest_main_thread_task_ms', 0):.0f} ms")
    td = tab["distribution"]["probs"]
    print(f"MoralChoice C_001 read, option distribution (exact full-vocab softmax):")
    print(f"  in tab            {[round(p, 6) for p in td]}")
    if tab_mt:
        tm = tab_mt["distribution"]["probs"]
        print(f"  in tab, {tab_mt['info'].get('threads')} threads {[round(p, 6) for p in tm]}  max |diff| vs 1 thread = {max(abs(a - b) for a, b in zip(td, tm)):.2e}")
    if native_rust:
        nd = native_rust["dist"]["probs"]
        print(f"  same runtime, native build ({native_rust['backend']}) {[round(p, 6) for p in nd]}  max |diff| = {max(abs(a - b) for a, b in zip(td, nd)):.2e}")
    else:
        print("  same runtime, native build: not run (its build failed)")
    print(f"  llama.cpp -t 2 (top-20 mapping) {[round(p, 6) for p in nat2['dist']]}  max |diff| vs tab = {max(abs(a - b) for a, b in zip(td, nat2['dist'])):.2e}")
    print(f"  llama.cpp -t 1 (top-20 mapping) {[round(p, 6) for p in nat1['dist']]}")
    print(f"greedy text identical to llama.cpp's: {same_text(tab['generate']['text'], nat2['text'])}")


if __name__ == "__main__":
    import urllib.parse
    main()
