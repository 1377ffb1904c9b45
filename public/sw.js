// The app's service worker. A page has one service worker per scope, so this one does both jobs:
//
// 1. Offline after the first load. The build writes the manifest below (scripts/sw_manifest.py:
//    every file of the build, relative to this script, with a content hash). On install the app
//    shell and the VITAL files are fetched, checked against their hashes and kept in the cache
//    "ethos-app-<version>"; the in-tab model's worker files (local-model/) are kept the first
//    time the page fetches them. Listed files are served from that cache, other same-origin
//    requests go to the network first (a copy is kept for when it is unreachable). A new build is
//    a new sw.js: it installs beside the running one and waits until the page, on the user's word
//    ("A new version is ready — reload"), asks it to take over; then older caches are deleted.
//    The in-tab model's own copies of GGUF files (the origin-private file system's
//    "ethos-local-models", or the Cache Storage cache "ethos-local-models-v1") are left alone.
//
// 2. Cross-origin isolation on request. When the user presses "Use every core" (for static hosts
//    that cannot send the headers), the page asks this worker to add COOP same-origin and COEP
//    require-corp to the app's own responses; "Stop using it" turns that off. The switch is kept
//    in the cache "ethos-sw-settings" so that it outlives this worker's restarts.
//
// Requests to other origins (LLM providers, model hubs) are never touched. Everything is
// resolved against this script's directory, so the app works under any sub-path.
"use strict";

const MANIFEST = /*MANIFEST*/null/*END*/;
const PREFIX = "ethos-app-";
const VERSION = MANIFEST ? MANIFEST.version : "none";
const CACHE = PREFIX + VERSION;
const SETTINGS = "ethos-sw-settings";
const SCOPE = new URL("./", self.location.href);
const ISOLATION_KEY = new URL("__ethos_sw/isolation", SCOPE).href;
const HASH_HEADER = "x-ethos-hash";

// Absolute URL (without query) -> manifest entry.
const entries = new Map();
for (const f of (MANIFEST ? MANIFEST.files : [])) entries.set(new URL(f.path, SCOPE).href, f);
const INDEX = new URL("index.html", SCOPE).href;

let isolation = null; // read from SETTINGS on first use

async function isolationOn() {
  if (isolation === null) {
    const hit = await (await caches.open(SETTINGS)).match(ISOLATION_KEY);
    isolation = !!hit && (await hit.text()) === "on";
  }
  return isolation;
}

async function setIsolation(on) {
  await (await caches.open(SETTINGS)).put(ISOLATION_KEY, new Response(on ? "on" : "off"));
  isolation = on;
}

async function sha16(buffer) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(d.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Headers a kept copy keeps: a host that sends the isolation headers itself must still have
// them on the copies, or the page would lose cross-origin isolation once served from them.
const KEPT_HEADERS = ["cross-origin-opener-policy", "cross-origin-embedder-policy", "cross-origin-resource-policy"];

// A response to keep: the body, its content type and its hash (so a later version can reuse it).
function keepable(body, from, hash) {
  const headers = new Headers();
  headers.set("content-type", from.headers.get("content-type") || "application/octet-stream");
  for (const h of KEPT_HEADERS) if (from.headers.has(h)) headers.set(h, from.headers.get(h));
  headers.set("content-length", String(body.byteLength));
  if (hash) headers.set(HASH_HEADER, hash);
  return new Response(body, { status: 200, statusText: "OK", headers });
}

// Fetch a listed file, check it against the manifest and keep it. A file that does not match
// (the host is half-way through a deployment) is not kept: the install fails and the browser
// tries again at its next update check.
async function fetchAndKeep(cache, url, entry) {
  const resp = await fetch(url, { cache: "no-cache" });
  if (!resp.ok) throw new Error("HTTP " + resp.status + " for " + url);
  const body = await resp.arrayBuffer();
  const got = await sha16(body);
  if (got !== entry.hash) throw new Error(url + " does not match this build (" + got + " ≠ " + entry.hash + ")");
  await cache.put(url, keepable(body, resp, entry.hash));
  return keepable(body, resp, entry.hash);
}

// A copy of `url` with `hash` in an older version's cache, if there is one.
async function fromOlder(url, hash) {
  for (const name of await caches.keys()) {
    if (!name.startsWith(PREFIX) || name === CACHE) continue;
    const hit = await (await caches.open(name)).match(url);
    if (hit && hit.headers.get(HASH_HEADER) === hash) return hit;
  }
  return null;
}

async function precache() {
  const cache = await caches.open(CACHE);
  await Promise.all(MANIFEST.files.map(async (f) => {
    const url = new URL(f.path, SCOPE).href;
    if (await cache.match(url)) return;
    const older = await fromOlder(url, f.hash);
    if (older) return cache.put(url, older);
    if (!f.lazy) await fetchAndKeep(cache, url, f);
  }));
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    if (MANIFEST) await precache();
    // The first worker of this scope takes over at once; a newer one waits for the page's word.
    if (!self.registration.active) await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

// The manifest entry a request asks for: the page itself for the scope's directory (any query).
function listedUrl(url) {
  const bare = url.origin + url.pathname;
  if (bare === SCOPE.href) return entries.has(INDEX) ? INDEX : null;
  return entries.has(bare) ? bare : null;
}

async function respond(event, url) {
  const request = event.request;
  const listed = request.method === "GET" && !request.headers.has("range") ? listedUrl(url) : null;
  if (listed) {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(listed);
    if (hit) return hit;
    const entry = entries.get(listed);
    if (entry.lazy) {
      // First use of an in-tab model file: fetch it, keep a checked copy for offline use.
      try {
        return await fetchAndKeep(cache, listed, entry);
      } catch (_) {
        return fetch(request); // not this build's file, or the network failed: no copy kept
      }
    }
    return fetch(request);
  }
  try {
    const resp = await fetch(request);
    const keep = request.method === "GET" && resp.ok && resp.type === "basic" && !request.headers.has("range")
      && url.href.startsWith(SCOPE.href) && !url.pathname.endsWith(".gguf");
    if (keep) {
      const copy = resp.clone();
      event.waitUntil(copy.arrayBuffer()
        .then((body) => caches.open(CACHE).then((c) => c.put(url.origin + url.pathname, keepable(body, copy, null))))
        .catch(() => {}));
    }
    return resp;
  } catch (e) {
    // Unreachable: a kept copy, or a model the in-tab worker keeps (a HEAD asks if it is there).
    if (request.method === "HEAD" && url.pathname.endsWith(".gguf")) {
      const size = await keptModelSize(request.url);
      if (size !== null) return new Response(null, { status: 200, headers: { "content-length": String(size) } });
    }
    const hit = await caches.match(url.origin + url.pathname);
    if (!hit) throw e;
    return request.method === "HEAD" ? new Response(null, { status: hit.status, headers: hit.headers }) : hit;
  }
}

// The size of a model the in-tab worker keeps whole in the origin-private file system
// (crates/ethos-local/js/worker.js: NAME.json, NAME = SHA-256 of the URL, says which URL and
// whether it is complete), or null.
async function keptModelSize(href) {
  try {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("ethos-local-models");
    const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(href));
    const name = Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
    const file = await (await dir.getFileHandle(name + ".json")).getFile();
    if (file.size > 65536) return null;
    const meta = JSON.parse(await file.text());
    const ok = meta && meta.key === href && meta.complete === true && Number.isSafeInteger(meta.total) && meta.total >= 0;
    return ok ? meta.total : null;
  } catch (_) {
    return null;
  }
}

async function isolate(response) {
  if (response.status === 0 || !(await isolationOn())) return response; // opaque, or not asked for
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  event.respondWith(respond(event, url).then(isolate));
});

// Whether every precached file is in this version's cache.
async function status() {
  let offline = false;
  if (MANIFEST) {
    const have = new Set((await (await caches.open(CACHE)).keys()).map((r) => r.url));
    offline = MANIFEST.files.every((f) => f.lazy || have.has(new URL(f.path, SCOPE).href));
  }
  return { version: VERSION, offline, isolation: await isolationOn() };
}

// Messages from the page; each is answered on the port it sent (if any).
//   {type: "status"}            -> {version, offline, isolation}
//   {type: "fill"}              -> the same, after fetching what is missing from the copy
//                                  (after "forget", or entries the browser evicted)
//   {type: "isolation", on}     -> {ok: true}
//   {type: "skip-waiting"}      -> this waiting worker takes over (the user chose to reload)
//   {type: "forget"}            -> {ok: true} after deleting this app's caches (not the models')
self.addEventListener("message", (event) => {
  const msg = event.data || {};
  const port = event.ports && event.ports[0];
  const reply = (v) => { if (port) port.postMessage(v); };
  const work = (async () => {
    switch (msg.type) {
      case "status": return status();
      case "fill": if (MANIFEST) await precache(); return status();
      case "isolation": await setIsolation(!!msg.on); return { ok: true };
      case "skip-waiting": await self.skipWaiting(); return { ok: true };
      case "forget":
        for (const name of await caches.keys()) {
          if (name.startsWith(PREFIX) || name === SETTINGS) await caches.delete(name);
        }
        isolation = false;
        return { ok: true };
      default: return { error: "unknown message " + msg.type };
    }
  })().then(reply, (e) => reply({ error: String(e && e.message ? e.message : e) }));
  event.waitUntil(work);
});
