/** Runs once when the server starts (Next.js instrumentation hook). */
export async function register(): Promise<void> {
  // Node only: the check exits the process, which the edge runtime cannot.
  if (process.env.NEXT_RUNTIME === "nodejs") {
    await import("./server/startup.ts");
    // Lists and live updates come from the dashboard's informers: sync them before the first page.
    (await import("./server/kube-cache.ts")).startKubeCache();
    // The sign-in hand-off's edge facts: read before the first sign-in, then followed.
    (await import("./server/ingress/index.ts")).startEdgeFollower();
  }
}
