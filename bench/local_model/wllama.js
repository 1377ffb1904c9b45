// llama.cpp in wasm (@wllama/wllama, copied beside this page as lib/) on the same GGUF and chat
// request as run.py sends to llama-server; reports figures to the bench server (POST /result).
// Query: ?models=URL[,URL...]&threads=N&tokens=N&prompt=TEXT&repeat=N
import { Wllama } from "./lib/index.js";

const params = new URLSearchParams(location.search);
const MODELS = (params.get("models") || "../model.gguf").split(",");
const THREADS = Number(params.get("threads") || 1);
const TOKENS = Number(params.get("tokens") || 128);
const PROMPT = params.get("prompt") || "Write a long, detailed essay about the history of medicine.";
const REPEAT = Math.max(1, Number(params.get("repeat") || 3));
const logEl = document.getElementById("log");
const log = (s) => { logEl.textContent += "\n" + s; };

// The same body as run.py's request to llama-server's /v1/chat/completions: wllama 3 runs
// llama-server's own server-context in wasm, so the GGUF's chat template is applied the same way.
const req = (content, max_tokens) => ({ messages: [{ role: "user", content }], temperature: 0, max_tokens, seed: 1, cache_prompt: false });

async function report(obj) {
  await fetch("/result", { method: "POST", body: JSON.stringify(obj) });
  log(JSON.stringify(obj, null, 1));
}

(async () => {
  const out = {
    user_agent: navigator.userAgent, cross_origin_isolated: self.crossOriginIsolated,
    shared_array_buffer: typeof SharedArrayBuffer !== "undefined", hardware_concurrency: navigator.hardwareConcurrency,
    threads_requested: THREADS, warnings: [],
  };
  const keep = (level) => (...a) => { if (out.warnings.length < 40) out.warnings.push(level + ": " + a.map(String).join(" ").slice(0, 300)); };
  try {
    out.libllama = Wllama.getLibllamaVersion();
    const wllama = new Wllama({ default: "./lib/wllama.wasm" }, {
      logger: { debug: () => {}, log: () => {}, warn: keep("warn"), error: keep("error") },
    });
    let t = performance.now();
    const files = await Promise.all(MODELS.map(async (u) => {
      const r = await fetch(u);
      if (!r.ok) throw new Error(`GET ${u}: ${r.status}`);
      return new File([await r.blob()], u.split("/").pop());
    }));
    out.fetch_ms = performance.now() - t;
    out.model_files = files.map((f) => [f.name, f.size]);
    t = performance.now();
    // n_gpu_layers 0: CPU only (no WebGPU); one slot and 2048 context as the llama-server run.
    await wllama.loadModel(files, { n_threads: THREADS, n_gpu_layers: 0, n_ctx: 2048, n_parallel: 1, seed: 1 });
    out.load_ms = performance.now() - t;
    out.multithread = wllama.isMultithread();
    out.n_threads = wllama.getNumThreads();
    out.has_chat_template = !!wllama.getChatTemplate();
    log("loaded: threads " + out.n_threads + ", multithread " + out.multithread);
    await wllama.createChatCompletion(req(PROMPT, 4)); // warm-up, as run.py does for llama-server
    out.runs = [];
    let first = null;
    for (let i = 0; i < REPEAT; i++) {
      t = performance.now();
      const r = await wllama.createChatCompletion(req(PROMPT, TOKENS));
      const wall = performance.now() - t;
      if (!first) first = r;
      out.runs.push(Object.assign({ wall_ms: wall, usage: r.usage }, r.timings || {}));
    }
    out.has_timings = out.runs.every((x) => typeof x.predicted_per_second === "number");
    out.best_prompt_tps = Math.max(...out.runs.map((x) => x.prompt_per_second || 0));
    out.best_gen_tps = Math.max(...out.runs.map((x) => x.predicted_per_second || 0));
    out.prompt_tokens = first.timings ? first.timings.prompt_n : first.usage.prompt_tokens;
    out.generated_tokens = first.timings ? first.timings.predicted_n : first.usage.completion_tokens;
    out.text = first.choices[0].message.content;
    out.finish_reason = first.choices[0].finish_reason;
    await wllama.exit();
  } catch (e) {
    out.error = String(e && e.message ? e.message : e) + (e && e.stack ? "\n" + e.stack : "");
  }
  await report(out);
})();
