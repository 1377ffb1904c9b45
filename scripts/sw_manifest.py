#!/usr/bin/env python3
"""Write the offline manifest into the built service worker (the last step of the Trunk build).

    scripts/sw_manifest.py DIST

Lists every file of DIST (relative paths, so the app works under any sub-path) with the first
16 hex digits of its SHA-256, and writes that list into DIST/sw.js between the markers
`/*MANIFEST*/` and `/*END*/`. The worker precaches the listed files (the app shell, the VITAL
files); those under local-model/ (the in-tab model's worker, several MB that only some visitors
need) are cached the first time the page fetches them. The version is a hash of the whole list:
a new build has a new sw.js, which is how the browser notices it (it compares the worker script
byte for byte) and the page offers the update.

Left out: sw.js itself, ethos-config.json (written per deployment by scripts/serve.sh; the
worker keeps a copy when it fetches it) and GGUF models (the in-tab model's worker keeps those in
a cache of its own). Idempotent: running it again on the same tree changes nothing.
"""
import hashlib
import json
import os
import re
import sys

WORKER = "sw.js"
LAZY_DIR = "local-model/"
SKIP = {WORKER, "ethos-config.json"}
MARKERS = re.compile(r"/\*MANIFEST\*/.*?/\*END\*/", flags=re.S)


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def files(root):
    out = []
    for d, dirs, names in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for name in sorted(names):
            full = os.path.join(d, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rel in SKIP or name.startswith(".") or name.endswith(".gguf") or rel.startswith("models/"):
                continue
            out.append({"path": rel, "hash": digest(full), "size": os.path.getsize(full), "lazy": rel.startswith(LAZY_DIR)})
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    worker = os.path.join(root, WORKER)
    with open(worker, encoding="utf-8") as f:
        text = f.read()
    if not MARKERS.search(text):
        sys.exit(f"sw_manifest.py: no /*MANIFEST*/…/*END*/ in {worker}")
    listed = files(root)
    if not any(e["path"] == "index.html" for e in listed):
        sys.exit(f"sw_manifest.py: no index.html in {root}")
    version = hashlib.sha256(json.dumps(listed, sort_keys=True).encode()).hexdigest()[:16]
    manifest = json.dumps({"version": version, "files": listed}, separators=(",", ":"), sort_keys=True)
    text = MARKERS.sub(lambda _: "/*MANIFEST*/" + manifest + "/*END*/", text, count=1)
    with open(worker, "w", encoding="utf-8") as f:
        f.write(text)
    shell = sum(e["size"] for e in listed if not e["lazy"])
    print(f"sw_manifest.py: version {version}, {len(listed)} files, {shell} bytes precached", file=sys.stderr)


if __name__ == "__main__":
    main()
