#!/usr/bin/env python3
"""bench/kernels in headless Chromium, the V8 the tab runs (Node's V8 is years older and compiles
the same wasm differently): python3 chromium.py DIR LABEL=FILE.wasm… [--worker] [--rows N …]. DIR
holds page.html, worker.js, run.js and the .wasm files; prints the page's lines. --worker: the
timing loop in a dedicated Worker, as the tab's model runs."""
import http.server, json, os, shutil, socket, subprocess, sys, tempfile, threading

root, rest = sys.argv[1], sys.argv[2:]
builds = [a for a in rest if "=" in a and a.endswith(".wasm")]
worker = "--worker" in rest
args = [a for a in rest if a not in builds and a != "--worker"]
done, result = threading.Event(), {}


class H(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript"}

    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)

    def log_message(self, *a):
        pass

    def end_headers(self):
        # Cross-origin isolated, as the app's threaded build is served: performance.now() then
        # ticks in 5 µs instead of 100 µs.
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        result.update(json.loads(self.rfile.read(n) or b"{}"))
        self.send_response(204)
        self.end_headers()
        done.set()


httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
port = httpd.server_address[1]
# Files by their names inside DIR.
names = ",".join(f"{b.split('=')[0]}={os.path.basename(b.split('=', 1)[1])}" for b in builds)
url = f"http://127.0.0.1:{port}/page.html?builds={names}&args={','.join(args)}" + ("&worker=1" if worker else "")
chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if not chrome:
    sys.exit("chromium.py: no Chromium found (scripts/setup.sh installs it)")
profile = tempfile.mkdtemp(prefix="ethos-kernels-chrome-")
browser = subprocess.Popen([chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                            f"--user-data-dir={profile}", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    ok = done.wait(1800)
finally:
    browser.terminate()
    browser.wait()
    shutil.rmtree(profile, ignore_errors=True)
    httpd.shutdown()
if not ok:
    sys.exit("chromium.py: the page reported nothing within 30 minutes")
print("\n".join(result.get("lines", [])))
sys.exit(1 if any(l.startswith("ERROR") for l in result.get("lines", [])) else 0)
