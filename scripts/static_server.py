#!/usr/bin/env python3
"""Serve a directory on 127.0.0.1 like a static host that sends the cross-origin isolation
headers (COOP same-origin, COEP require-corp): the in-tab model then runs its threaded build.

    scripts/static_server.py DIR PORT
"""
import http.server
import sys


def main():
    root, port = sys.argv[1], int(sys.argv[2])

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                          ".wasm": "application/wasm", ".js": "text/javascript",
                          ".gguf": "application/octet-stream"}

        def __init__(self, *a, **k):
            super().__init__(*a, directory=root, **k)

        def end_headers(self):
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            super().end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
