// Loads a GGUF in the model worker (as the app does) and reports when it is done; the bench
// (memory.py) samples the browser's memory meanwhile. Query: ?threads=N&cache=0|1
const params = new URLSearchParams(location.search);
const mark = (body) => fetch("/mark", { method: "POST", body: JSON.stringify(body) });
const worker = new Worker("worker.js?" + new URLSearchParams({ threads: params.get("threads") || "1" }), { type: "module" });
worker.onerror = (e) => mark({ error: "worker error: " + e.message });
worker.onmessage = async (e) => {
  const m = JSON.parse(e.data);
  if (m.type === "ready") {
    // The bench takes the baseline, then answers: only then does the load start.
    await mark({ phase: "ready" });
    worker.postMessage(JSON.stringify({ type: "load", id: 1, url: new URL("model.gguf", location.href).href, file_name: null, cache: params.get("cache") === "1", requantize: true }));
  } else if (m.type === "loaded") {
    await mark({ phase: "loaded", info: m.info, note: m.note || null, from_cache: m.from_cache });
  } else if (m.type === "error") {
    await mark({ error: JSON.stringify(m.error) });
  }
};
