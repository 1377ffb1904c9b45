// The in-tab model's Web Worker (an ES module worker). Loaded lazily by the app:
//   new Worker(new URL("local-model/worker.js", document.baseURI), { type: "module" })
// next to ethos_local.js + ethos_local_bg.wasm produced by crates/ethos-local/build-worker.sh.
//
// Protocol: every message is a JSON string (see src/protocol.rs); a load from a picked file is
// posted as { json, file }. Model calls run one at a time; "cancel" is handled at once and a
// running generation stops at the next token.

// relaxed-simd (i8x16.relaxed_swizzle) support decides which build to load; both expose the same API.
const RELAXED_SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11]);
let relaxedSimd = false;
try { relaxedSimd = WebAssembly.validate(RELAXED_SIMD_PROBE); } catch (_) { relaxedSimd = false; }
// "worker.js?baseline=1" forces the build without relaxed-simd (benchmarks, debugging).
if (new URL(self.location.href).searchParams.get("baseline") === "1") relaxedSimd = false;

const CACHE_NAME = "ethos-local-models-v1";
const FILE_PREFIX = "/__ethos_local_model_file__/";

let engine = null;
let dead = null; // set after a trap: the wasm instance is unusable
const cancelled = new Set();
let queue = Promise.resolve();

const post = (m) => self.postMessage(JSON.stringify(m));
// The threaded build (shared memory, helper workers) needs a cross-origin isolated page
// (COOP same-origin + COEP require-corp); "worker.js?threads=N" sets the thread count (1 = the
// single-thread build), default: one per core, at most 4.
const params = new URL(self.location.href).searchParams;
const cores = Math.max(1, Math.min(4, Number(navigator.hardwareConcurrency) || 1));
const wanted = params.has("threads") ? Math.max(1, Math.min(8, Number(params.get("threads")) || 1)) : cores;
const threaded = relaxedSimd && wanted > 1 && self.crossOriginIsolated === true && typeof SharedArrayBuffer !== "undefined";
const helpers = [];

// Spawn the helper threads and wait until each has joined the pool (or failed: the model then
// runs on the threads that did join, at worst on this one). A load reports the thread count
// (ModelInfo.threads), so it must come after the joins.
async function startHelpers(mod, wasm, n) {
  const joined = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker(new URL("./threads/helper.js", import.meta.url), { type: "module" });
    helpers.push(w);
    joined.push(new Promise((resolve) => {
      w.onmessage = (e) => resolve(e.data && e.data.type === "joined");
      w.onerror = () => resolve(false);
    }));
    w.postMessage({ module: mod.default.__wbindgen_wasm_module, memory: wasm.memory });
  }
  const started = (await Promise.all(joined)).filter(Boolean).length;
  // A helper says "joined" just before it enters the pool: give it a moment to be counted.
  for (let i = 0; i < 100 && mod.helper_threads() < started; i++) await new Promise((r) => setTimeout(r, 5));
}

async function startSingle() {
  const mod = await import(relaxedSimd ? "./ethos_local.js" : "./baseline/ethos_local.js");
  await mod.default();
  return mod;
}

async function startThreaded() {
  const mod = await import("./threads/ethos_local.js");
  const wasm = await mod.default();
  await startHelpers(mod, wasm, wanted - 1);
  return mod;
}

// A threaded build that is missing or fails to start falls back to the single-thread one.
const ready = (threaded ? startThreaded().catch(() => { helpers.forEach((w) => w.terminate()); return startSingle(); }) : startSingle())
  .then((mod) => {
    engine = new mod.Engine();
    post({ type: "ready", relaxed_simd: relaxedSimd });
  });

// A zero-delay yield (setTimeout is clamped to 4 ms when nested).
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => { const r = waiting.shift(); if (r) r(); };
const yieldNow = () => new Promise((r) => { waiting.push(r); channel.port2.postMessage(0); });

function chatError(e) {
  if (typeof e === "string") {
    try { const v = JSON.parse(e); if (v && v.kind) return v; } catch (_) { /* not ours */ }
    return { kind: "other", detail: e };
  }
  if (e && e.kind) return e;
  const text = e && e.message ? e.message : String(e);
  if (e instanceof WebAssembly.RuntimeError) {
    dead = "The model runtime crashed (" + text + "). Reload the model.";
    return { kind: "other", detail: dead };
  }
  return { kind: "other", detail: text };
}

async function openCache() {
  try {
    if (typeof caches === "undefined") return null; // not a secure context
    return await caches.open(CACHE_NAME);
  } catch (_) {
    return null;
  }
}

function fileKeyUrl(name) {
  return new URL(FILE_PREFIX + encodeURIComponent(name), self.location.origin).href;
}

function keyToUrl(key) {
  return key.startsWith("file:") ? fileKeyUrl(key.slice(5)) : new URL(key, self.location.href).href;
}

function urlToKey(url) {
  const u = new URL(url);
  if (u.origin === self.location.origin && u.pathname.startsWith(FILE_PREFIX)) {
    return "file:" + decodeURIComponent(u.pathname.slice(FILE_PREFIX.length));
  }
  return url;
}

async function readWithProgress(id, resp, phase) {
  const total = Number(resp.headers.get("content-length")) || null;
  if (!resp.body) {
    const buf = new Uint8Array(await resp.arrayBuffer());
    post({ type: "progress", id, phase, loaded: buf.length, total: buf.length });
    return buf;
  }
  const reader = resp.body.getReader();
  const chunks = [];
  let loaded = 0;
  let last = 0;
  post({ type: "progress", id, phase, loaded: 0, total });
  for (;;) {
    if (cancelled.has(id)) { reader.cancel(); throw { kind: "cancelled" }; }
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    const now = performance.now();
    if (now - last > 100) { last = now; post({ type: "progress", id, phase, loaded, total }); }
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  post({ type: "progress", id, phase, loaded, total: total || loaded });
  return bytes;
}

async function load(msg, file) {
  const { id } = msg;
  const cache = msg.cache ? await openCache() : null;
  let bytes;
  let fromCache = false;
  if (file) {
    const key = fileKeyUrl(msg.file_name || file.name);
    bytes = await readWithProgress(id, new Response(file, { headers: { "content-length": String(file.size) } }), "file");
    if (cache) await cache.put(key, new Response(bytes, { headers: { "content-type": "application/octet-stream", "content-length": String(bytes.length) } }));
  } else if (msg.url) {
    const url = keyToUrl(msg.url);
    const hit = cache ? await cache.match(url) : null;
    if (hit) {
      fromCache = true;
      bytes = await readWithProgress(id, hit, "cache");
    } else {
      let resp;
      try {
        resp = await fetch(url);
      } catch (e) {
        throw { kind: "network", detail: "could not download the model from " + url + " (" + (e && e.message ? e.message : e) + ")" };
      }
      if (!resp.ok) throw { kind: "not_found", detail: "model download failed: HTTP " + resp.status + " for " + url };
      bytes = await readWithProgress(id, resp, "download");
      if (cache) {
        try {
          await cache.put(url, new Response(bytes, { headers: { "content-type": "application/octet-stream", "content-length": String(bytes.length) } }));
        } catch (e) {
          // Quota or similar: the model still loads, it just is not kept.
        }
      }
    }
  } else {
    throw { kind: "other", detail: "nothing to load (no URL and no file)" };
  }
  post({ type: "progress", id, phase: "load", loaded: 0, total: null });
  await yieldNow();
  const info = JSON.parse(engine.load(bytes, msg.requantize !== false, msg.backend || undefined));
  post({ type: "loaded", id, info, from_cache: fromCache });
}

async function generate(msg) {
  const { id, request } = msg;
  const json = JSON.stringify(request);
  const t0 = performance.now();
  const promptTokens = engine.start(json);
  engine.prefill();
  const t1 = performance.now();
  let lastYield = t1;
  for (;;) {
    if (cancelled.has(id)) { engine.cancel(); throw { kind: "cancelled" }; }
    const piece = engine.step();
    if (piece === undefined) break;
    if (piece) post({ type: "delta", id, text: piece });
    const now = performance.now();
    if (now - lastYield > 16) { await yieldNow(); lastYield = performance.now(); }
  }
  const t2 = performance.now();
  const response = JSON.parse(engine.finish());
  const generated = response.usage ? response.usage.completion_tokens : 0;
  post({ type: "done", id, response, timings: { prompt_tokens: promptTokens, prompt_ms: t1 - t0, generated_tokens: generated, generation_ms: t2 - t1 } });
}

async function distribution(msg) {
  const { id, request, n_options, top_n } = msg;
  const json = JSON.stringify(request);
  const promptTokens = engine.prompt_tokens_of(json);
  const t0 = performance.now();
  const dist = JSON.parse(engine.distribution(json, n_options, top_n));
  const t1 = performance.now();
  post({ type: "dist", id, dist, timings: { prompt_tokens: promptTokens, prompt_ms: t1 - t0, generated_tokens: 0, generation_ms: 0 } });
}

async function listCached(msg) {
  const cache = await openCache();
  const entries = [];
  if (cache) {
    for (const req of await cache.keys()) {
      const resp = await cache.match(req);
      const len = resp ? Number(resp.headers.get("content-length")) || 0 : 0;
      entries.push({ key: urlToKey(req.url), bytes: len });
    }
  }
  post({ type: "cached", id: msg.id, entries });
}

async function deleteCached(msg) {
  const cache = await openCache();
  const deleted = cache ? await cache.delete(keyToUrl(msg.key)) : false;
  post({ type: "deleted", id: msg.id, deleted });
}

async function handle(msg, file) {
  try {
    await ready;
    if (cancelled.has(msg.id)) throw { kind: "cancelled" };
    if (dead && (msg.type === "generate" || msg.type === "distribution")) throw { kind: "other", detail: dead };
    switch (msg.type) {
      case "load": dead = null; await load(msg, file); break;
      case "generate": await generate(msg); break;
      case "distribution": await distribution(msg); break;
      case "list_cached": await listCached(msg); break;
      case "delete_cached": await deleteCached(msg); break;
      default: throw { kind: "other", detail: "unknown message " + msg.type };
    }
  } catch (e) {
    post({ type: "error", id: msg.id, error: chatError(e) });
  } finally {
    cancelled.delete(msg.id);
  }
}

self.onmessage = (e) => {
  let msg;
  let file = null;
  try {
    if (typeof e.data === "string") msg = JSON.parse(e.data);
    else { msg = JSON.parse(e.data.json); file = e.data.file || null; }
  } catch (err) {
    post({ type: "error", id: null, error: { kind: "malformed", detail: "bad message to the model worker" } });
    return;
  }
  if (msg.type === "cancel") { cancelled.add(msg.id); return; }
  queue = queue.then(() => handle(msg, file));
};

ready.catch((e) => post({ type: "error", id: null, error: { kind: "other", detail: "the model runtime could not start: " + (e && e.message ? e.message : e) } }));
