#!/usr/bin/env python3
"""Add a Content-Security-Policy to the built index.html (Trunk post_build hook).

    scripts/csp.py DIST/index.html

Scripts may come only from the app itself, plus Trunk's inline start-up script, allowed by its
SHA-256 (computed here, since it names the hashed file names of each build), and WebAssembly
compilation. No eval, no plugins, no foreign scripts, styles or images. Connections may go to any
http(s) endpoint: the user picks the LLM endpoint at run time (OpenAI, a local server, …), so the
policy cannot list it in advance. Idempotent.
"""
import base64
import hashlib
import re
import sys


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        html = f.read()
    if "Content-Security-Policy" in html:
        return
    inline = re.findall(r"<script type=\"module\">(.*?)</script>", html, flags=re.S)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
        for s in inline
    )
    policy = "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'wasm-unsafe-eval' {hashes}".strip(),
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self' https: http: wss: ws:",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
    ])
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}" />'
    html, n = re.subn(r"(<meta charset=\"utf-8\" />)", r"\1\n    " + meta, html, count=1)
    if n != 1:
        sys.exit("csp.py: no <meta charset> in " + path)
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)


if __name__ == "__main__":
    main()
