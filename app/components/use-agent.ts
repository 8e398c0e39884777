"use client";

import { useEffect, useState } from "react";
import useSWR from "swr";
import type { AgentView } from "@/lib/agent/view";
import { fetchJson } from "./use-live-state";

/**
 * The agent's state from GET /api/agent. The event stream's "agent" events revalidate every
 * /api/agent key (use-live-state.ts), so this refetches exactly when the agent changed.
 */
export const AGENT_KEY = "/api/agent";

export function useAgent(signedIn: boolean) {
  // The agent's state is Alice's: fetched only with her session.
  return useSWR<AgentView>(signedIn ? AGENT_KEY : null, fetchJson, { revalidateOnFocus: true, keepPreviousData: true });
}

/** The current time, re-rendered every `ms` (countdowns). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** POSTs JSON to a control route (agent, market) and returns the error text, if any. */
export async function postJson(path: string, body: unknown = {}): Promise<string | null> {
  const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.ok) return null;
  const data = (await res.json().catch(() => ({}))) as { error_description?: string };
  return data.error_description ?? `The server answered ${res.status}.`;
}
