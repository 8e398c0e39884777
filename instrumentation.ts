/**
 * Next.js calls register() once per server process. It starts the background runtime (market
 * ticker, embedded identity server, agent loop; lib/runtime.ts) so that the market moves even
 * before the first page is opened. Under `next dev` it then has the routes a user reaches first
 * compiled in the background (lib/dev-warm-up.ts), without holding up the server.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  // `next build` loads this file too; the runtime belongs to a running server only.
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  const { getRuntime, installShutdownHandlers } = await import("./lib/runtime");
  installShutdownHandlers();
  const runtime = await getRuntime();
  if (runtime.config.env === "development") {
    const { warmRoutes } = await import("./lib/dev-warm-up");
    void warmRoutes(runtime.config.agent.internalUrl);
  }
}
