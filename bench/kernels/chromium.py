#!/usr/bin/env python3
"""bench/kernels in headless Chromium, the V8 the tab runs (Node's V8 is years older and compiles
the same wasm differently): python3 chromium.py DIR LABEL=FILE.wasm… [--worker] [--rows N …]. DIR
holds page.html, worker.js, run.js and the .wasm files; prints the page's lines. --worker: the
timing loop in a dedicated Worker, as the tab's model runs. The server and the browser are
bench/local_model/run.py's (the page under /iso/: cross-origin isolated, so performance.now()
ticks in 5 µs instead of 100 µs)."""
import os, shutil, sys, threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "local_model"))
from run import run_page, serve  # noqa: E402

root, rest = sys.argv[1], sys.argv[2:]
builds = [a for a in rest if "=" in a and a.endswith(".wasm")]
worker = "--worker" in rest
args = [a for a in rest if a not in builds and a != "--worker"]
if not (shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")):
    sys.exit("chromium.py: no Chromium found (scripts/setup.sh installs it)")
result = {"event": threading.Event()}
httpd = serve(root, result)
# Files by their names inside DIR.
names = ",".join(f"{b.split('=')[0]}={os.path.basename(b.split('=', 1)[1])}" for b in builds)
url = f"http://127.0.0.1:{httpd.server_address[1]}/iso/page.html?builds={names}&args={','.join(args)}" + ("&worker=1" if worker else "")
try:
    data = run_page(url, result, 1800)
finally:
    httpd.shutdown()
if data is None:
    sys.exit("chromium.py: the page reported nothing within 30 minutes")
lines = data.get("lines", [])
print("\n".join(lines))
sys.exit(1 if any(l.startswith("ERROR") for l in lines) else 0)
