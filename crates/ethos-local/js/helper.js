// A helper thread of the threaded in-tab model build (an ES module worker, spawned by
// worker.js next to threads/ethos_local.js). It instantiates the same module on the model
// worker's shared memory, then joins the matrix-product pool for good (helper_loop never
// returns; the model worker terminates it when it is itself terminated or reloads).
import init, { helper_loop } from "./ethos_local.js";

self.onmessage = async (e) => {
  try {
    const { module, memory } = e.data;
    await init({ module_or_path: module, memory });
    self.postMessage({ type: "joined" });
    helper_loop();
  } catch (err) {
    self.postMessage({ type: "failed", detail: String(err && err.message ? err.message : err) });
  }
};
