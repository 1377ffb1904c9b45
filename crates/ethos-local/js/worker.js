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

// ---- Models kept in the origin-private file system (OPFS) ----------------------------------
// Each model is two files named by the SHA-256 of its key (URL, or file:NAME): NAME.gguf, the
// bytes as they arrived, and NAME.json: { key, total, verified, prefix_sha256, complete, sha256 }.
// `verified` bytes of NAME.gguf are on disk (flushed) and hash to `prefix_sha256`: an
// interrupted download resumes from there (HTTP Range), after checking that prefix again; a
// complete copy is checked against `sha256` on every load. Both files are read as a stranger's.
const OPFS_DIR = "ethos-local-models";
const READ_CHUNK = 4 << 20; // bytes per read from a kept copy (one reused buffer)
const META_EVERY = 8 << 20; // bytes between two updates of NAME.json during a download

async function opfsDir() {
  try {
    if (!navigator.storage || typeof navigator.storage.getDirectory !== "function") return null;
    const root = await navigator.storage.getDirectory();
    return await root.getDirectoryHandle(OPFS_DIR, { create: true });
  } catch (_) {
    return null;
  }
}

async function nameOf(key) {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

const isCount = (n) => Number.isSafeInteger(n) && n >= 0;
const isHex = (h) => typeof h === "string" && /^[0-9a-f]{64}$/.test(h);

async function readMeta(dir, name) {
  try {
    const f = await (await dir.getFileHandle(name + ".json")).getFile();
    if (f.size > 65536) return null;
    const m = JSON.parse(await f.text());
    if (!m || typeof m.key !== "string" || !isCount(m.verified) || !(m.total === null || isCount(m.total))) return null;
    if (m.verified > 0 && !isHex(m.prefix_sha256)) return null;
    if (m.complete === true && !isHex(m.sha256)) return null;
    return m;
  } catch (_) {
    return null;
  }
}

// A sync access handle on NAME.json, rewritten in place (workers only; exclusive while open).
function metaWriter(h) {
  const enc = new TextEncoder();
  return (meta) => {
    const b = enc.encode(JSON.stringify(meta));
    h.truncate(0);
    h.write(b, { at: 0 });
    h.flush();
  };
}

async function removeKept(dir, name) {
  for (const f of [name + ".gguf", name + ".json"]) {
    try { await dir.removeEntry(f); } catch (_) { /* not there */ }
  }
}

// Push a stream's chunks into the engine, and into `sink` (the kept copy being written).
async function pump(id, stream, phase, loaded, total, sink) {
  const reader = stream.getReader();
  let last = 0;
  post({ type: "progress", id, phase, loaded, total });
  try {
    for (;;) {
      if (cancelled.has(id)) throw { kind: "cancelled" };
      const { done, value } = await reader.read();
      if (done) break;
      engine.push(value);
      loaded += value.length;
      if (sink) sink(value, loaded);
      const now = performance.now();
      if (now - last > 100) { last = now; post({ type: "progress", id, phase, loaded, total }); }
    }
  } catch (e) {
    try { reader.cancel(); } catch (_) { /* already closed */ }
    if (e instanceof TypeError && phase === "download") {
      // The connection broke: what arrived is kept (when keeping) and the next Load resumes.
      throw { kind: "network", detail: "the download broke off at " + (loaded / 1e6).toFixed(1) + " MB (" + e.message + "); Load again to resume it" };
    }
    throw e;
  }
  post({ type: "progress", id, phase, loaded, total: total || loaded });
  return loaded;
}

// Push bytes 0..upto of a kept copy into the engine, through one reused buffer.
async function pumpKept(id, h, upto, phase, total) {
  const buf = new Uint8Array(Math.min(READ_CHUNK, Math.max(1, upto)));
  let at = 0;
  let last = 0;
  post({ type: "progress", id, phase, loaded: 0, total });
  while (at < upto) {
    if (cancelled.has(id)) throw { kind: "cancelled" };
    const n = h.read(buf.subarray(0, Math.min(buf.length, upto - at)), { at });
    if (n <= 0) throw { kind: "other", detail: "the kept copy of the model is shorter than recorded" };
    engine.push(buf.subarray(0, n));
    at += n;
    const now = performance.now();
    if (now - last > 100) { last = now; post({ type: "progress", id, phase, loaded: at, total }); await yieldNow(); }
  }
  return at;
}

function httpError(url, e) {
  return { kind: "network", detail: "could not download the model from " + url + " (" + (e && e.message ? e.message : e) + ")" };
}

// "bytes 100-199/1000" -> { start: 100, total: 1000 } (total null when "*").
function contentRange(v) {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec((v || "").trim());
  if (!m) return null;
  return { start: Number(m[1]), total: m[3] === "*" ? null : Number(m[3]) };
}

function finish(msg, expected) {
  post({ type: "progress", id: msg.id, phase: "load", loaded: 0, total: null });
  return JSON.parse(engine.finish_load(msg.requantize !== false, msg.backend || undefined, expected || undefined));
}

// A kept copy that did not load because its SHA-256 changed (the engine's "corrupted" error) is
// downloaded again, with this note.
const CORRUPTED_COPY = "The copy kept in this browser was corrupted: it was downloaded again.";
function isCorrupted(e) {
  return /corrupted/.test(chatError(e).detail || "");
}

// Load with the kept copy in OPFS: read it whole when complete, else resume or start the
// download, writing what arrives. Returns { info, fromCache, note }.
async function loadKept(msg, file, dir, key) {
  const name = await nameOf(key);
  let meta = await readMeta(dir, name);
  if (meta && meta.key !== key) meta = null; // a hash collision cannot happen; a stranger's file can
  let dataH;
  let metaH;
  try {
    dataH = await (await dir.getFileHandle(name + ".gguf", { create: true })).createSyncAccessHandle();
    metaH = await (await dir.getFileHandle(name + ".json", { create: true })).createSyncAccessHandle();
  } catch (e) {
    // Locked by another tab's load, or no sync handles: load without keeping.
    if (dataH) dataH.close();
    return null;
  }
  const writeMeta = metaWriter(metaH);
  let keep = true;
  try {
    const size = dataH.getSize();
    let note = null;
    if (!file && meta && meta.complete && meta.total === size && meta.verified === size) {
      engine.begin_load(size);
      await pumpKept(msg.id, dataH, size, "cache", size);
      try {
        return { info: finish(msg, msg.sha256 || meta.sha256), fromCache: true, note: null };
      } catch (e) {
        if (!isCorrupted(e)) throw e;
        // Changed on disk since it was checked (or not the file asked for): never loaded;
        // downloaded again below, from the start.
        note = CORRUPTED_COPY;
        meta = null;
      }
    }
    let from = 0;
    let total = file ? file.size : meta ? meta.total : null;
    engine.begin_load(total);
    if (!file && meta && !meta.complete && meta.verified > 0 && meta.verified <= size) {
      await pumpKept(msg.id, dataH, meta.verified, "cache", total);
      if (engine.sha256() === meta.prefix_sha256) {
        from = meta.verified;
      } else {
        note = "The partial download kept in this browser was corrupted: it was downloaded again.";
        engine.begin_load(total);
      }
    }
    dataH.truncate(from);
    let stream;
    let controller = null;
    if (file) {
      stream = file.stream();
    } else {
      controller = new AbortController();
      let resp;
      try {
        resp = await fetch(key, from > 0 ? { headers: { Range: "bytes=" + from + "-" }, signal: controller.signal } : { signal: controller.signal });
      } catch (e) {
        throw httpError(key, e);
      }
      const range = resp.status === 206 ? contentRange(resp.headers.get("content-range")) : null;
      if (from > 0 && range && range.start === from && range.total === total) {
        note = "Resumed the download at " + (from / 1e6).toFixed(1) + " MB.";
      } else if (resp.ok && resp.status !== 206) {
        // The whole file (no range support, or nothing to resume): start over.
        from = 0;
        dataH.truncate(0);
        total = Number(resp.headers.get("content-length")) || null;
        engine.begin_load(total);
      } else if (from > 0 && resp.status === 206) {
        // A range that does not continue the kept part (the file changed?): start over.
        controller.abort();
        from = 0;
        dataH.truncate(0);
        try {
          resp = await fetch(key, { signal: (controller = new AbortController()).signal });
        } catch (e) {
          throw httpError(key, e);
        }
        if (!resp.ok) throw { kind: "not_found", detail: "model download failed: HTTP " + resp.status + " for " + key };
        total = Number(resp.headers.get("content-length")) || null;
        engine.begin_load(total);
      } else {
        throw { kind: "not_found", detail: "model download failed: HTTP " + resp.status + " for " + key };
      }
      stream = resp.body || new Response(await resp.arrayBuffer()).body;
    }
    // The quota check, before the download starts: a file that does not fit is loaded, not kept.
    if (total !== null) {
      try {
        const est = await navigator.storage.estimate();
        const free = (est.quota || 0) - (est.usage || 0);
        if (total - from > free) {
          keep = false;
          note = "Not kept in this browser: it needs " + ((total - from) / 1e6).toFixed(1) + " MB, " + (Math.max(0, free) / 1e6).toFixed(1) + " MB are free.";
        }
      } catch (_) { /* no estimate: try to keep it */ }
    }
    let state = { key, total, verified: from, prefix_sha256: from > 0 ? meta.prefix_sha256 : null, complete: false, sha256: null };
    if (keep) writeMeta(state);
    let since = 0;
    let failedWrite = false;
    const sink = keep ? (chunk, loadedNow) => {
      if (failedWrite) return;
      try {
        dataH.write(chunk, { at: loadedNow - chunk.length });
        since += chunk.length;
        if (since >= META_EVERY) {
          since = 0;
          dataH.flush();
          state.verified = loadedNow;
          state.prefix_sha256 = engine.sha256();
          writeMeta(state);
        }
      } catch (_) {
        failedWrite = true; // disk full: the model still loads
      }
    } : null;
    try {
      const got = await pump(msg.id, stream, file ? "file" : "download", from, total, sink);
      if (total !== null && got < total) {
        // The connection ended early without an error: keep what came, resume next time.
        throw { kind: "network", detail: "the download stopped at " + (got / 1e6).toFixed(1) + " of " + (total / 1e6).toFixed(1) + " MB; Load again to resume it" };
      }
    } catch (e) {
      if (controller) controller.abort();
      // The file itself is bad (the engine refused it): nothing worth resuming.
      if (typeof e === "string") keep = false;
      throw e;
    }
    if (failedWrite) { keep = false; note = "Not kept in this browser: writing the copy failed (no room left?)."; }
    if (keep) {
      dataH.flush();
      state = Object.assign(state, { verified: dataH.getSize(), prefix_sha256: engine.sha256(), complete: true, sha256: engine.sha256() });
      if (total === null) state.total = state.verified;
    }
    let info;
    try {
      info = finish(msg, msg.sha256);
    } catch (e) {
      keep = false; // never keep a file that does not load as what was expected
      throw e;
    }
    if (keep) writeMeta(state);
    return { info, fromCache: false, note };
  } finally {
    dataH.close();
    metaH.close();
    if (!keep) await removeKept(dir, name);
  }
}

// Without OPFS (or with it locked): stream from Cache Storage, or download, keeping the
// download in Cache Storage through a second branch of the body.
async function loadPlain(msg, file, key) {
  const cache = msg.cache ? await openCache() : null;
  if (file) {
    engine.begin_load(file.size);
    await pump(msg.id, file.stream(), "file", 0, file.size, null);
    const info = finish(msg, msg.sha256);
    if (cache) {
      try { await cache.put(key, new Response(file, { headers: { "content-type": "application/octet-stream", "content-length": String(file.size) } })); } catch (_) { /* not kept */ }
    }
    return { info, fromCache: false, note: null };
  }
  const hit = cache ? await cache.match(key) : null;
  let note = null;
  if (hit && hit.body) {
    const total = Number(hit.headers.get("content-length")) || null;
    engine.begin_load(total);
    await pump(msg.id, hit.body, "cache", 0, total, null);
    try {
      return { info: finish(msg, msg.sha256), fromCache: true, note: null };
    } catch (e) {
      if (!isCorrupted(e)) throw e;
      try { await cache.delete(key); } catch (_) { /* gone */ }
      note = CORRUPTED_COPY;
    }
  }
  const controller = new AbortController();
  let resp;
  try {
    resp = await fetch(key, { signal: controller.signal });
  } catch (e) {
    throw httpError(key, e);
  }
  if (!resp.ok) throw { kind: "not_found", detail: "model download failed: HTTP " + resp.status + " for " + key };
  const total = Number(resp.headers.get("content-length")) || null;
  engine.begin_load(total);
  let body = resp.body || new Response(await resp.arrayBuffer()).body;
  let keeping = null;
  if (cache) {
    const [mine, kept] = body.tee();
    body = mine;
    const headers = { "content-type": "application/octet-stream" };
    if (total) headers["content-length"] = String(total);
    keeping = cache.put(key, new Response(kept, { headers })).then(() => true, () => false);
  }
  try {
    await pump(msg.id, body, "download", 0, total, null);
  } catch (e) {
    controller.abort();
    if (keeping) { await keeping; try { await cache.delete(key); } catch (_) { /* gone */ } }
    throw e;
  }
  const kept = keeping ? await keeping : false;
  let info;
  try {
    info = finish(msg, msg.sha256);
  } catch (e) {
    if (kept) { try { await cache.delete(key); } catch (_) { /* gone */ } }
    throw e;
  }
  return { info, fromCache: false, note: cache && !kept ? [note, "Not kept in this browser."].filter(Boolean).join(" ") : note };
}

async function load(msg, file) {
  const { id } = msg;
  let key;
  if (file) key = fileKeyUrl(msg.file_name || file.name);
  else if (msg.url) key = keyToUrl(msg.url);
  else throw { kind: "other", detail: "nothing to load (no URL and no file)" };
  try {
    const dir = msg.cache ? await opfsDir() : null;
    let out = dir ? await loadKept(msg, file, dir, key) : null;
    if (!out) out = await loadPlain(msg, file, key);
    post({ type: "loaded", id, info: out.info, from_cache: out.fromCache, note: out.note || undefined });
  } catch (e) {
    engine.abort_load();
    throw e;
  }
}

async function generate(msg) {
  const { id, request } = msg;
  const json = JSON.stringify(request);
  // "fresh": compute the whole prompt, not only what differs from the previous one (benchmarks).
  if (msg.fresh === true) engine.clear_cache();
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
  const entries = [];
  const dir = await opfsDir();
  if (dir) {
    for await (const [fname] of dir.entries()) {
      if (!fname.endsWith(".json")) continue;
      const meta = await readMeta(dir, fname.slice(0, -5));
      if (!meta || meta.verified === 0) continue;
      entries.push({ key: urlToKey(meta.key), bytes: meta.verified, complete: meta.complete === true });
    }
  }
  const cache = await openCache();
  if (cache) {
    for (const req of await cache.keys()) {
      const resp = await cache.match(req);
      const len = resp ? Number(resp.headers.get("content-length")) || 0 : 0;
      entries.push({ key: urlToKey(req.url), bytes: len, complete: true });
    }
  }
  post({ type: "cached", id: msg.id, entries });
}

async function deleteCached(msg) {
  const url = keyToUrl(msg.key);
  let deleted = false;
  const dir = await opfsDir();
  if (dir) {
    const name = await nameOf(url);
    deleted = (await readMeta(dir, name)) !== null;
    await removeKept(dir, name);
  }
  const cache = await openCache();
  if (cache && (await cache.delete(url))) deleted = true;
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
