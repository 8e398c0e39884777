import "server-only";
import type { KoaContextWithOIDC } from "oidc-provider";

/**
 * CIBA response shaping and poll pacing, as Koa middleware around oidc-provider's routes
 * (provider.use):
 *
 * - discovery says `backchannel_user_code_parameter_supported: false` (oidc-provider hardcodes
 *   true; this server refuses user_code, see ciba.ts);
 * - the acknowledgement (CIBA Core §7.3) carries `interval`; without it a client must wait 5 s,
 *   and oidc-provider does not add one itself;
 * - a client that polls an auth_req_id faster than that while it is still pending gets
 *   `slow_down` (§11) instead of `authorization_pending`. Only pending answers are paced, after
 *   oidc-provider authenticated the client, so a decided request is never delayed.
 */
export function createCibaMiddleware(intervalSeconds: number) {
  // A poll is "too fast" when it comes more than a second early: timers are not exact.
  const minimumGapMs = Math.max(500, (intervalSeconds - 1) * 1000);
  const lastPendingPoll = new Map<string, number>();

  return async function cibaMiddleware(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    await next();
    const route = ctx.oidc?.route;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== "object") return;

    // oidc-provider always advertises user_code support; this server does not use user codes.
    if (route === "discovery" && "backchannel_user_code_parameter_supported" in body) {
      body.backchannel_user_code_parameter_supported = false;
      return;
    }

    if (route === "backchannel_authentication" && ctx.status === 200 && typeof body.auth_req_id === "string") {
      ctx.body = { ...body, interval: intervalSeconds };
      return;
    }

    if (route === "token" && body.error === "authorization_pending") {
      const id = (ctx.oidc.params as Record<string, unknown> | undefined)?.auth_req_id;
      if (typeof id !== "string") return;
      const now = Date.now();
      const previous = lastPendingPoll.get(id);
      lastPendingPoll.set(id, now);
      prune(lastPendingPoll, now);
      if (previous !== undefined && now - previous < minimumGapMs) {
        ctx.status = 400;
        ctx.body = {
          error: "slow_down",
          error_description: `poll no more often than every ${intervalSeconds} s, and add 5 s to the interval now (CIBA Core §11)`,
        };
      }
    }
  };
}

/** Forgets polls older than ten minutes once the map grows; keeps memory bounded. */
function prune(map: Map<string, number>, now: number): void {
  if (map.size < 1000) return;
  for (const [id, at] of map) if (now - at > 600_000) map.delete(id);
}
