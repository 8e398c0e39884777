import type { AgentView } from "@/lib/agent/view";
import type { DashboardState } from "@/lib/demo";
import { asInvestor } from "./investor-session";

/**
 * Reading and driving the running app over its public HTTP API, as the dashboard does, signed in
 * as Alice (investor-session.ts).
 */

export async function agentOf(appUrl: string): Promise<AgentView> {
  const res = await asInvestor(appUrl, "/api/agent");
  if (!res.ok) throw new Error(`/api/agent answered ${res.status}`);
  return (await res.json()) as AgentView;
}

export async function dashboardOf(appUrl: string): Promise<DashboardState> {
  const res = await asInvestor(appUrl, "/api/state");
  if (!res.ok) throw new Error(`/api/state answered ${res.status}`);
  return (await res.json()) as DashboardState;
}

/** A POST of Alice's dashboard: her session, the app's Origin, a JSON body. */
export async function press(appUrl: string, path: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<Response> {
  return asInvestor(appUrl, path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

/** Polls `read` until `done` holds; returns the last value. Fails with the last value shown. */
export async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read().catch(() => last);
    if (last !== undefined && done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 1500)}`);
}

/**
 * Resolves once the app's agent has read the price `ticks` more times after this call, so that
 * at least `ticks - 1` whole ticks (read the price, decide) ran: the moments in which it could
 * have acted. Returns what the agent shows then.
 */
export async function afterAgentTicks(appUrl: string, ticks = 3, timeoutMs = 20_000): Promise<AgentView> {
  let view = await agentOf(appUrl);
  for (let seen = 0; seen < ticks; seen++) {
    const before = view.lastPrice?.at;
    view = await waitUntil(() => agentOf(appUrl), (a) => a.lastPrice !== null && a.lastPrice.at !== before, timeoutMs, `agent tick ${seen + 1} of ${ticks}`);
  }
  return view;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
