// Drives the model worker exactly as the app's proxy does (JSON messages, src/protocol.rs) and
// reports figures to the bench server (POST /result). Query: ?model=URL&tokens=N&prompt=TEXT
const params = new URLSearchParams(location.search);
const MODEL = params.get("model") || "model.gguf";
const TOKENS = Number(params.get("tokens") || 128);
const PROMPT = params.get("prompt") || "Write a long, detailed essay about the history of medicine.";
const DIST_PROMPT = params.get("dist_prompt") || "";
const N_OPTIONS = Number(params.get("n_options") || 2);
const BACKEND = params.get("backend") || "auto";
const REPEAT = Math.max(1, Number(params.get("repeat") || 3));
const logEl = document.getElementById("log");
const log = (s) => { logEl.textContent += "\n" + s; };

// Longest main-thread task while the worker generates.
let longest = 0;
try {
  new PerformanceObserver((list) => { for (const e of list.getEntries()) longest = Math.max(longest, e.duration); })
    .observe({ type: "longtask", buffered: true });
} catch (_) { /* not supported */ }

const worker = new Worker("worker.js?" + new URLSearchParams({ baseline: params.get("baseline") === "1" ? "1" : "0", threads: params.get("threads") || "1" }), { type: "module" });
let relaxedSimd = null;
let nextId = 1;
const pending = new Map();
worker.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === "ready") { relaxedSimd = m.relaxed_simd; return; }
  const p = pending.get(m.id);
  if (!p) return;
  if (m.type === "progress") { p.progress.push(m); return; }
  if (m.type === "delta") { p.text += m.text; p.deltas++; return; }
  pending.delete(m.id);
  if (m.type === "error") p.reject(new Error(JSON.stringify(m.error))); else p.resolve(Object.assign(m, { text: p.text, deltas: p.deltas, progress: p.progress }));
};
worker.onerror = (e) => report({ error: "worker error: " + e.message });
function call(msg) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, text: "", deltas: 0, progress: [] });
    worker.postMessage(JSON.stringify(Object.assign({ id }, msg)));
  });
}
const req = (content, max_tokens) => ({ model: "local", messages: [{ role: "user", content }], temperature: 0, max_tokens, seed: 1 });

async function report(obj) {
  await fetch("/result", { method: "POST", body: JSON.stringify(obj) });
  log(JSON.stringify(obj, null, 1));
}

(async () => {
  const out = { user_agent: navigator.userAgent, cross_origin_isolated: self.crossOriginIsolated, hardware_concurrency: navigator.hardwareConcurrency };
  try {
    await call({ type: "delete_cached", key: MODEL });
    let t = performance.now();
    const first = await call({ type: "load", url: MODEL, file_name: null, cache: true, requantize: true, backend: BACKEND });
    out.load_ms = performance.now() - t;
    out.info = first.info;
    out.first_load_from_cache = first.from_cache;
    out.download_progress_events = first.progress.filter((p) => p.phase === "download").length;
    t = performance.now();
    const again = await call({ type: "load", url: MODEL, file_name: null, cache: true, requantize: true, backend: BACKEND });
    out.reload_ms = performance.now() - t;
    out.reload_from_cache = again.from_cache;
    out.cached = (await call({ type: "list_cached" })).entries;
    log("loaded " + JSON.stringify(out.info));
    await call({ type: "generate", request: req("Hi", 4) }); // warm-up
    // Cancellation: start a long generation, cancel after the first delta.
    {
      const id = nextId++;
      const p = new Promise((resolve) => {
        pending.set(id, { resolve: () => resolve("finished"), reject: (e) => resolve(String(e.message)), text: "", deltas: 0, progress: [] });
      });
      const watch = setInterval(() => { const q = pending.get(id); if (q && q.deltas > 0) { worker.postMessage(JSON.stringify({ type: "cancel", id })); clearInterval(watch); } }, 1);
      worker.postMessage(JSON.stringify({ type: "generate", id, request: req(PROMPT, 200) }));
      out.cancel_result = await p;
      clearInterval(watch);
    }
    longest = 0;
    // Best of REPEAT runs (the machine is shared: the best run is the least disturbed one).
    out.runs = [];
    let g = null;
    for (let i = 0; i < REPEAT; i++) {
      // fresh: the whole prompt is computed each time (the runtime would reuse the cached
      // prefix of the previous run), as llama-server runs with cache_prompt false.
      const r = await call({ type: "generate", request: req(PROMPT, TOKENS), fresh: true });
      out.runs.push(r.timings);
      if (!g) g = r;
    }
    const best = (f) => Math.max(...out.runs.map(f));
    out.best_prompt_tps = best((t) => t.prompt_tokens * 1000 / t.prompt_ms);
    out.best_gen_tps = best((t) => t.generated_tokens * 1000 / t.generation_ms);
    out.generate = { timings: g.timings, text: g.response.text, deltas: g.deltas, finish_reason: g.response.finish_reason };
    out.longest_main_thread_task_ms = longest;
    if (DIST_PROMPT) {
      const d = await call({ type: "distribution", request: req(DIST_PROMPT, 1), n_options: N_OPTIONS, top_n: 10 });
      out.distribution = d.dist;
      out.distribution_timings = d.timings;
    }
    out.relaxed_simd = relaxedSimd;
    await call({ type: "delete_cached", key: MODEL });
    out.cached_after_delete = (await call({ type: "list_cached" })).entries;
  } catch (e) {
    out.error = String(e && e.message ? e.message : e);
  }
  await report(out);
})();
