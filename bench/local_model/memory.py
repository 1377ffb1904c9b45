#!/usr/bin/env python3
"""Peak memory of headless Chromium while the model worker loads a GGUF, against the file's size.

    bench/local_model/memory.py [--gguf PATH] [--skip-build [--worker DIR]] [--cache] [--threads N]

Serves the worker (crates/ethos-local/build-worker.sh) and memory.js, opens the page in a fresh
headless Chromium, and samples the resident memory (VmRSS) of every Chromium process every 20 ms.
The baseline is taken when the worker's wasm is ready, just before the load starts; the peak is
the largest sum seen until the worker reports the model loaded. Printed: file size, baseline,
peak, (peak - baseline) / file size (the issue's bar: <= 1.3), and each process's own high-water
mark (VmHWM) as a cross-check of the sampling. --cache also keeps the file in the origin-private
file system while it downloads (what the app does); --threads N runs the threaded build under
cross-origin isolation (N - 1 helper workers).
"""
import argparse, http.server, json, os, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (free_port, find_gguf, ROOT, HERE)


def chromium_pids(profile):
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if profile.encode() in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf")
    ap.add_argument("--skip-build", action="store_true", help="use the worker already built (--worker, default dist/local-model of `trunk build --release`)")
    ap.add_argument("--worker", default=os.path.join(run.ROOT, "dist", "local-model"))
    ap.add_argument("--cache", action="store_true", help="keep the file in OPFS while it downloads, as the app does")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=900)
    a = ap.parse_args()
    gguf = run.find_gguf(a.gguf)
    size = os.path.getsize(gguf)
    target = os.environ.get("CARGO_TARGET_DIR", "/work/target-localmodel")
    pkg = a.worker if a.skip_build else os.path.join(target, "local-model-web")
    if not a.skip_build:
        subprocess.run([os.path.join(run.ROOT, "crates/ethos-local/build-worker.sh"), pkg], check=True, stdout=subprocess.DEVNULL)
    site = tempfile.mkdtemp(prefix="ethos-local-mem-")
    for f in ["worker.js", "ethos_local.js", "ethos_local_bg.wasm"]:
        shutil.copy(os.path.join(pkg, f), site)
    for sub in ["baseline", "threads"]:
        if os.path.isdir(os.path.join(pkg, sub)):
            shutil.copytree(os.path.join(pkg, sub), os.path.join(site, sub))
    shutil.copy(os.path.join(run.HERE, "memory.js"), site)
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write('<!doctype html><meta charset="utf-8"><title>memory</title><script type="module" src="memory.js"></script>')
    os.symlink(gguf, os.path.join(site, "model.gguf"))

    state = {"baseline": None, "peak": 0, "done": threading.Event(), "result": None, "profile": None, "sampling": True}

    def total_rss():
        return sum(status_kb(p, "VmRSS") for p in chromium_pids(state["profile"])) * 1024

    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *x, **k):
            super().__init__(*x, directory=site, **k)
        def end_headers(self):
            if self.path.startswith("/iso/"):
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            super().end_headers()
        def translate_path(self, path):
            return super().translate_path(path[len("/iso"):] if path.startswith("/iso/") else path)
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript"}
        def log_message(self, *x):
            pass
        def do_POST(self):
            n = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            if body.get("phase") == "ready":
                state["baseline"] = total_rss()
                state["peak"] = state["baseline"]
            else:
                state["result"] = body
                state["done"].set()
            self.send_response(204); self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", run.free_port()), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    prefix = "/iso" if a.threads > 1 else ""
    url = f"http://127.0.0.1:{httpd.server_address[1]}{prefix}/index.html?threads={a.threads}&cache={'1' if a.cache else '0'}"
    chrome = shutil.which("chromium") or shutil.which("google-chrome") or sys.exit("no chromium")
    profile = tempfile.mkdtemp(prefix="ethos-local-mem-chrome-")
    state["profile"] = profile

    def sampler():
        while state["sampling"]:
            if state["baseline"] is not None and not state["done"].is_set():
                state["peak"] = max(state["peak"], total_rss())
            time.sleep(0.02)

    t = threading.Thread(target=sampler, daemon=True)
    t.start()
    browser = subprocess.Popen([chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                f"--user-data-dir={profile}", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:
        ok = state["done"].wait(a.timeout)
        after = total_rss()
        hwm = {p: status_kb(p, "VmHWM") * 1024 for p in chromium_pids(profile)}
    finally:
        state["sampling"] = False
        browser.terminate(); browser.wait()
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(site, ignore_errors=True)
    if not ok:
        sys.exit("the page did not report within the timeout")
    r = state["result"]
    if r.get("error"):
        sys.exit("the load failed: " + r["error"])
    base, peak = state["baseline"], state["peak"]
    mb = lambda b: f"{b / 1e6:.1f} MB"
    print(f"file            {os.path.basename(gguf)}: {mb(size)}")
    print(f"build           {'threaded, ' + str(a.threads) + ' threads (cross-origin isolated)' if a.threads > 1 else 'single thread'}; keep in OPFS: {a.cache}")
    print(f"loaded in       {time.time() - t0:.1f} s; backend {r['info'].get('backend')}, sha256 {r['info'].get('sha256')}; note: {r.get('note')}")
    print(f"baseline        {mb(base)} (all Chromium processes, worker ready)")
    print(f"peak            {mb(peak)} (sampled every 20 ms while loading); after load {mb(after)}")
    print(f"peak - baseline {mb(peak - base)} = {(peak - base) / size:.2f} x the file (target <= 1.3)")
    print(f"largest VmHWM   {mb(max(hwm.values()))} (one process's own high-water mark, baseline included)")


if __name__ == "__main__":
    main()
