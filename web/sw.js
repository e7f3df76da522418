// The page's service worker: on install it caches every file of offline.json (the page, its modules,
// onnxruntime-web's WebAssembly, the model), so the installed app reads with the network off.
// Requests go to the network first (a fresh copy refreshes the cache) and fall back to the cache.
const CACHE = "edge-digits";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const listing = await fetch("offline.json", { cache: "no-store" });
    if (!listing.ok) throw new Error(`offline.json: HTTP ${listing.status}`);
    const { files } = await listing.json();
    const cache = await caches.open(CACHE);
    await cache.addAll(["./", "offline.json", ...files].map((file) => new Request(file, { cache: "no-store" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok && (await cache.match(request))) event.waitUntil(cache.put(request, response.clone()));
      return response;
    } catch (error) {  // offline (or the server is gone): the copy from install, whatever the query string
      const cached = await cache.match(request, { ignoreSearch: true });
      if (cached) return cached;
      throw error;
    }
  })());
});
