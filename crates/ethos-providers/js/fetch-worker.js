// The network worker: makes HTTP requests for the page, so the page's own thread and its garbage
// collector do not carry the `fetch` objects of hundreds of calls a second (a benchmark).
// The page's side, and the protocol below, is `crates/ethos-providers/src/web/worker.rs`.
//
// To the worker (objects):
//   {id, method, url, headers: [[name, value], ...], body: string | null}   one request
//   {abort: id}                                                            stop that request
// From the worker ({id, t, ...}; nothing more is sent for an id after "done", "end" or "error"):
//   {t: "ready"}                                               once, when this script runs
//   {id, t: "done", status, retryAfter, body: ArrayBuffer}     a short whole reply
//   {id, t: "head", status, retryAfter}                        a reply read piece by piece:
//   {id, t: "chunk", body: Uint8Array}                           its pieces, in order,
//   {id, t: "end"}                                               and its end
//   {id, t: "error", kind, name?, message?}
//       kind: "header" (the browser refused header `name`), "fetch" (no response: CORS, DNS,
//       refused, ...), "body" (the connection broke during the body), "abort" (the page asked).
// Keys travel in `headers` and go nowhere but to `url`; nothing here logs or keeps them.
"use strict";

// Bodies with a stated length up to this are read whole (as in web.rs: WHOLE_BODY_MAX).
const WHOLE_BODY_MAX = 1024 * 1024;

// id -> AbortController of each request in flight.
const calls = new Map();

function readsWhole(head) {
  const type = (head.get("content-type") || "").toLowerCase();
  const length = Number.parseInt((head.get("content-length") || "").trim(), 10);
  return !type.includes("event-stream") && Number.isFinite(length) && length >= 0 && length <= WHOLE_BODY_MAX;
}

function send(id, msg, transfer) {
  // An aborted request says nothing more: the page has forgotten it.
  if (calls.has(id)) self.postMessage(msg, transfer || []);
}

function fail(id, kind, error, name) {
  const aborted = error && error.name === "AbortError";
  const message = error && typeof error.message === "string" ? error.message : undefined;
  send(id, { id, t: "error", kind: aborted ? "abort" : kind, name, message });
  calls.delete(id);
}

async function request(msg) {
  const id = msg.id;
  const ctrl = new AbortController();
  calls.set(id, ctrl);
  const headers = new Headers();
  for (const pair of Array.isArray(msg.headers) ? msg.headers : []) {
    try {
      headers.set(String(pair[0]), String(pair[1]));
    } catch (e) {
      // Never echo the value: it may be the key.
      return fail(id, "header", null, String(pair[0]));
    }
  }
  let resp;
  try {
    resp = await fetch(String(msg.url), {
      method: String(msg.method || "GET"),
      headers,
      body: typeof msg.body === "string" ? msg.body : undefined,
      mode: "cors",
      signal: ctrl.signal,
    });
  } catch (e) {
    return fail(id, "fetch", e);
  }
  const status = resp.status;
  const retryAfter = resp.headers.get("retry-after");
  try {
    if (readsWhole(resp.headers)) {
      const body = await resp.arrayBuffer();
      send(id, { id, t: "done", status, retryAfter, body }, [body]);
    } else {
      send(id, { id, t: "head", status, retryAfter });
      if (resp.body) {
        const reader = resp.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (!calls.has(id)) return; // aborted meanwhile
          if (value) send(id, { id, t: "chunk", body: value });
        }
      }
      send(id, { id, t: "end" });
    }
    calls.delete(id);
  } catch (e) {
    fail(id, "body", e);
  }
}

self.onmessage = (event) => {
  const msg = event.data;
  if (typeof msg !== "object" || msg === null) return;
  if ("abort" in msg) {
    const ctrl = calls.get(msg.abort);
    calls.delete(msg.abort);
    if (ctrl) ctrl.abort();
    return;
  }
  request(msg);
};

self.postMessage({ t: "ready" });
