#!/usr/bin/env python3
"""In-tab model vs native llama.cpp, one run, same GGUF, same chat prompt.

    bench/local_model/run.sh [--tokens N] [--gguf PATH] [--skip-build]

Builds the worker (crates/ethos-local/build-worker.sh), serves it with bench.js from a local
static server, runs it in headless Chromium (load from URL with progress, Cache Storage hit on
reload, warm-up, cancel, a greedy generation, delete from cache), then starts private
llama-server processes on the same GGUF (2 threads, as the project's server runs, and 1 thread)
with the same request, and prints prompt-processing and generation tokens/s side by side.
Python standard library only.
"""
import argparse, http.server, json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request

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


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def find_gguf(arg):
    for p in [arg, os.environ.get("ETHOS_LLM_GGUF"), "/work/cache/SmolLM2-135M-Instruct.Q4_1.gguf",
              os.path.expanduser("~/.cache/ethos-agents/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf")]:
        if p and os.path.isfile(p):
            return os.path.abspath(p)
    sys.exit("no GGUF found: pass --gguf or set ETHOS_LLM_GGUF (scripts/llama-server.sh model)")


def serve(root, result):
    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=root, **k)
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
    a = ap.parse_args()
    gguf = find_gguf(a.gguf)
    target = os.environ.get("CARGO_TARGET_DIR", "/work/target-localmodel")
    pkg = os.path.join(target, "local-model-web")
    if not a.skip_build:
        subprocess.run([os.path.join(ROOT, "crates/ethos-local/build-worker.sh"), pkg], check=True, stdout=subprocess.DEVNULL)
    site = tempfile.mkdtemp(prefix="ethos-local-bench-")
    for f in ["worker.js", "ethos_local.js", "ethos_local_bg.wasm"]:
        shutil.copy(os.path.join(pkg, f), site)
    if os.path.isdir(os.path.join(pkg, "baseline")):
        shutil.copytree(os.path.join(pkg, "baseline"), os.path.join(site, "baseline"))
    for f in ["index.html", "bench.js"]:
        shutil.copy(os.path.join(HERE, f), site)
    os.symlink(gguf, os.path.join(site, "model.gguf"))
    wasm_bytes = os.path.getsize(os.path.join(site, "ethos_local_bg.wasm"))
    result = {"event": threading.Event()}
    httpd = serve(site, result)
    dist_prompt, n_options = moralchoice_prompt()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/index.html?" + urllib.parse.urlencode({"tokens": a.tokens, "prompt": PROMPT, "baseline": "1" if a.baseline else "0", "backend": a.backend, "repeat": a.repeat, "dist_prompt": dist_prompt, "n_options": n_options})
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    profile = tempfile.mkdtemp(prefix="ethos-local-chrome-")
    browser = subprocess.Popen([chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                                f"--user-data-dir={profile}", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ok = result["event"].wait(a.timeout)
    finally:
        browser.terminate(); browser.wait(); httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True); shutil.rmtree(site, ignore_errors=True)
    if not ok:
        sys.exit("the page did not report within the timeout")
    tab = result["data"]
    if tab.get("error"):
        print(json.dumps(tab, indent=1)); sys.exit("the page reported an error")
    # The same runtime, native build, same GGUF and prompt.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(dist_prompt)
        prompt_file = f.name
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    out = subprocess.run(["nice", "-n", "19", "cargo", "run", "-q", "-p", "ethos-local", "--example", "dist", "--", gguf, prompt_file, str(n_options)],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    os.unlink(prompt_file)
    native_rust = json.loads(out)
    bin_path = os.environ.get("ETHOS_LLAMA_SERVER_BIN", os.path.expanduser("~/.cache/ethos-agents/llama-server-0.94.0/llama-server"))
    nat2 = native(bin_path, gguf, 2, a.tokens, a.repeat)
    nat1 = native(bin_path, gguf, 1, a.tokens, a.repeat)
    g = tab["generate"]["timings"]
    tab_p = tab["best_prompt_tps"]
    tab_g = tab["best_gen_tps"]
    print(f"GGUF: {gguf} ({os.path.getsize(gguf)/1e6:.1f} MB); worker wasm {wasm_bytes/1e6:.2f} MB; backend in tab: {tab['info'].get('backend')}, relaxed-simd build: {tab.get('relaxed_simd')}")
    print(f"load: {tab['load_ms']:.0f} ms from URL (progress events {tab['download_progress_events']}), reload {tab['reload_ms']:.0f} ms from cache={tab['reload_from_cache']}; cancel -> {tab['cancel_result']}; cache after delete: {tab['cached_after_delete']}")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared; figures are noisy)")
    print(f"best of {a.repeat} runs each; tokens/s from each runtime's own timers (worker performance.now(), llama-server timings)")
    print(f"{'runtime':38} {'prompt tok':>10} {'prompt tok/s':>12} {'gen tok':>8} {'gen tok/s':>10}")
    print(f"{'in tab (headless Chromium, 1 worker)':38} {g['prompt_tokens']:>10} {tab_p:>12.1f} {g['generated_tokens']:>8} {tab_g:>10.1f}")
    for name, n in [("native llama-server -t 2", nat2), ("native llama-server -t 1", nat1)]:
        print(f"{name:38} {n['prompt_tokens']:>10} {n['prompt_tps']:>12.1f} {n['generated_tokens']:>8} {n['gen_tps']:>10.1f}")
    print(f"tab / native(-t 2) generation: {tab_g / nat2['gen_tps']:.2f}x (target >= 0.5x); prompt: {tab_p / nat2['prompt_tps']:.2f}x")
    print(f"tab / native(-t 1) generation: {tab_g / nat1['gen_tps']:.2f}x")
    print(f"longest main-thread task during generation: {tab.get('longest_main_thread_task_ms', 0):.0f} ms")
    td = tab["distribution"]["probs"]
    nd = native_rust["dist"]["probs"]
    print(f"MoralChoice C_001 read, option distribution (exact full-vocab softmax):")
    print(f"  in tab            {[round(p, 6) for p in td]}")
    print(f"  same runtime, native build ({native_rust['backend']}) {[round(p, 6) for p in nd]}  max |diff| = {max(abs(a - b) for a, b in zip(td, nd)):.2e}")
    print(f"  llama.cpp -t 2 (top-20 mapping) {[round(p, 6) for p in nat2['dist']]}  max |diff| vs tab = {max(abs(a - b) for a, b in zip(td, nat2['dist'])):.2e}")
    print(f"  llama.cpp -t 1 (top-20 mapping) {[round(p, 6) for p in nat1['dist']]}")
    same = tab["generate"]["text"] == nat2["text"]
    print(f"greedy text identical to llama.cpp's: {same}")
    if not same:
        print("  tab:    " + repr(tab["generate"]["text"][:160]))
        print("  native: " + repr(nat2["text"][:160]))


if __name__ == "__main__":
    import urllib.parse
    main()
