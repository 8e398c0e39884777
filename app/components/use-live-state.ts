"use client";

import { useMemo } from "react";
import useSWR, { mutate as globalMutate } from "swr";
import useSWRSubscription, { type SWRSubscriptionOptions } from "swr/subscription";
import type { DashboardState } from "@/lib/demo";
import { ACTIVITY_LIMIT, HISTORY_LIMIT, type ActivityEntry, type MarketSnapshot, type MarketTick } from "@/lib/types";

/**
 * The dashboard's data: a snapshot from /api/state (SWR fetch, refetched when the ledger changes
 * or the stream reconnects) merged with what the Server-Sent Events stream (/api/events) pushed
 * since. Pushed data lives in the subscription, not in the snapshot's cache, so a push never
 * races a refetch (SWR drops a fetch result that a mutation overtook).
 */
export const STATE_KEY = "/api/state";
const EVENTS_KEY = "/api/events";

export type StreamStatus = "connecting" | "live" | "reconnecting";

interface Live {
  status: StreamStatus;
  market?: MarketSnapshot;
  ticks: MarketTick[];
  activity: ActivityEntry[];
}

export async function fetchJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { cache: "no-store" });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error_description ?? `${url} answered ${res.status}`);
  }
  return res.json() as Promise<T>;
}

function subscribe(key: string, { next }: SWRSubscriptionOptions<Live, Error>) {
  const source = new EventSource(key);
  let live: Live = { status: "connecting", ticks: [], activity: [] };
  let hadError = false;
  const publish = (change: Partial<Live>) => {
    live = { ...live, ...change };
    next(null, live);
  };
  publish({});
  source.onopen = () => {
    publish({ status: "live" });
    if (hadError) void globalMutate(STATE_KEY);
    hadError = false;
  };
  source.onerror = () => {
    hadError = true;
    publish({ status: "reconnecting" });
  };
  const on = <T,>(name: string, apply: (payload: T) => void) =>
    source.addEventListener(name, (event) => apply(JSON.parse((event as MessageEvent<string>).data) as T));
  on<MarketSnapshot>("tick", (tick) =>
    publish({ market: tick, ticks: [...live.ticks, { at: tick.at, priceCents: tick.priceCents, status: tick.status }].slice(-HISTORY_LIMIT) }),
  );
  on<ActivityEntry>("activity", (entry) => publish({ activity: [entry, ...live.activity].slice(0, ACTIVITY_LIMIT) }));
  on<{ reason: string }>("ledger", ({ reason }) => {
    // A reset empties the log and the chart: forget what was pushed before it.
    if (reason === "reset") publish({ ticks: [], activity: [] });
    void globalMutate(STATE_KEY);
    void globalMutate((k) => typeof k === "string" && k.startsWith("/api/sequence"));
  });
  on("agent", () => void globalMutate((k) => typeof k === "string" && (k.startsWith("/api/agent") || k.startsWith("/api/sequence"))));
  on("mail", () => void globalMutate((k) => typeof k === "string" && (k.startsWith("/api/inbox") || k.startsWith("/api/sequence"))));
  return () => source.close();
}

/** Snapshot ticks plus pushed ticks, ascending, one per timestamp. */
function mergeTicks(snapshot: MarketTick[], pushed: MarketTick[]): MarketTick[] {
  const last = snapshot.at(-1)?.at ?? "";
  return [...snapshot, ...pushed.filter((t) => t.at > last)].slice(-HISTORY_LIMIT);
}

/** Pushed entries plus the snapshot's, newest first, one per id. */
function mergeActivity(pushed: ActivityEntry[], snapshot: ActivityEntry[]): ActivityEntry[] {
  const seen = new Set<number>();
  return [...pushed, ...snapshot]
    .filter((e) => !seen.has(e.id) && seen.add(e.id))
    .sort((a, b) => b.id - a.id)
    .slice(0, ACTIVITY_LIMIT);
}

export function useLiveState() {
  const snapshot = useSWR<DashboardState>(STATE_KEY, fetchJson, { revalidateOnFocus: true, keepPreviousData: true });
  const { data: live } = useSWRSubscription<Live, Error>(EVENTS_KEY, subscribe);
  const base = snapshot.data;
  const data = useMemo<DashboardState | undefined>(() => {
    if (!base) return undefined;
    if (!live) return base;
    const market = live.market && live.market.at >= base.market.at ? live.market : base.market;
    return { ...base, market, history: mergeTicks(base.history, live.ticks), activity: mergeActivity(live.activity, base.activity) };
  }, [base, live]);
  return { data, error: snapshot.error as Error | undefined, isLoading: snapshot.isLoading, mutate: snapshot.mutate, streamStatus: live?.status ?? "connecting" };
}
