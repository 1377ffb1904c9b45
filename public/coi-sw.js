// A service worker that adds the cross-origin isolation headers (COOP same-origin, COEP
// require-corp) to this app's OWN responses, for static hosts that cannot send them: the page is
// then cross-origin isolated and the in-tab model runs its threaded build. It is registered only
// when the user presses "Use every core" in the "In this browser" panel, and removed by "Stop".
// It caches nothing: every request still goes to the network. Requests to other origins (LLM
// providers, model hubs) are not touched.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (new URL(request.url).origin !== self.location.origin) return;
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  event.respondWith(
    fetch(request).then((response) => {
      if (response.status === 0) return response; // opaque: leave as is
      const headers = new Headers(response.headers);
      headers.set("Cross-Origin-Opener-Policy", "same-origin");
      headers.set("Cross-Origin-Embedder-Policy", "require-corp");
      return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    })
  );
});
