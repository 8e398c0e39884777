import type { AgentView } from "@/lib/agent/view";
import type { DashboardState } from "@/lib/demo";

/** Reading and driving the running app over its public HTTP API, as the dashboard does. */

/**
 * GET, once more if the connection dropped: a reused keep-alive socket may be closed by the
 * server at the very moment it is used ("other side closed"); a GET is safe to repeat.
 */
export async function getOnce(url: string): Promise<Response> {
  try {
    return await fetch(url);
  } catch {
    return fetch(url);
  }
}

export async function agentOf(appUrl: string): Promise<AgentView> {
  const res = await getOnce(`${appUrl}/api/agent`);
  if (!res.ok) throw new Error(`/api/agent answered ${res.status}`);
  return (await res.json()) as AgentView;
}

export async function dashboardOf(appUrl: string): Promise<DashboardState> {
  const res = await getOnce(`${appUrl}/api/state`);
  if (!res.ok) throw new Error(`/api/state answered ${res.status}`);
  return (await res.json()) as DashboardState;
}

export async function press(appUrl: string, path: string, body: unknown = {}): Promise<Response> {
  return fetch(`${appUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
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
