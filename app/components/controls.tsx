"use client";

import { useState } from "react";
import { mutate } from "swr";
import type { MarketStatus } from "@/lib/types";
import { PauseIcon, ResetIcon, TrendDownIcon } from "./icons";
import { postJson } from "./use-agent";
import { STATE_KEY } from "./use-live-state";
import { Card } from "./ui";

type Action = "crash" | "stabilize" | "reset";

/**
 * The demo controls. Each is a POST; the new state arrives over the event stream. Crash and
 * Stabilize drive the public simulator; Reset clears Alice's ledger, so it needs her session.
 */
export default function Controls({ status, signedIn }: { status: MarketStatus; signedIn: boolean }) {
  const [busy, setBusy] = useState<Action | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirmReset, setConfirmReset] = useState(false);

  async function run(action: Action) {
    setBusy(action);
    setError(null);
    try {
      const problem = await postJson(`/api/market/${action}`);
      if (problem !== null) throw new Error(problem);
      await mutate(STATE_KEY);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
      setConfirmReset(false);
    }
  }

  const base =
    "inline-flex items-center justify-center gap-2 rounded-xl px-4 py-2.5 text-sm font-semibold transition focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 focus-visible:ring-offset-slate-900 disabled:cursor-not-allowed disabled:opacity-50";
  return (
    <Card title="Demo controls" testId="controls">
      <div className="grid gap-2">
        <button
          type="button"
          data-testid="crash-button"
          onClick={() => run("crash")}
          disabled={busy !== null || status === "CRASHING"}
          className={`${base} bg-rose-600 text-white hover:bg-rose-500 focus-visible:ring-rose-400`}
        >
          <TrendDownIcon /> {busy === "crash" ? "Triggering…" : status === "CRASHING" ? "Market is crashing" : "Trigger Market Crash"}
        </button>
        <button
          type="button"
          data-testid="stabilize-button"
          onClick={() => run("stabilize")}
          disabled={busy !== null || status === "STABLE"}
          className={`${base} bg-slate-700 text-slate-100 hover:bg-slate-600 focus-visible:ring-slate-400`}
        >
          <PauseIcon /> {busy === "stabilize" ? "Stabilizing…" : "Stabilize"}
        </button>
        {confirmReset ? (
          <div className="flex gap-2" role="group" aria-label="Confirm reset">
            <button type="button" data-testid="reset-confirm" onClick={() => run("reset")} disabled={busy !== null} autoFocus className={`${base} flex-1 bg-amber-600 text-white hover:bg-amber-500 focus-visible:ring-amber-400`}>
              {busy === "reset" ? "Resetting…" : "Yes, reset everything"}
            </button>
            <button type="button" onClick={() => setConfirmReset(false)} className={`${base} bg-slate-800 text-slate-300 hover:bg-slate-700 focus-visible:ring-slate-500`}>
              Cancel
            </button>
          </div>
        ) : (
          <button
            type="button"
            data-testid="reset-button"
            onClick={() => setConfirmReset(true)}
            disabled={busy !== null || !signedIn}
            title={signedIn ? undefined : "Sign in to reset: it clears the investor's trades and holdings"}
            className={`${base} border border-slate-700 text-slate-300 hover:bg-slate-800 focus-visible:ring-slate-500`}
          >
            <ResetIcon /> Reset demo
          </button>
        )}
      </div>
      <p className="mt-3 text-xs text-slate-500">
        {signedIn
          ? "Reset restores the initial cash, clears trades and the activity log, and puts the price back to the open."
          : "Anyone may crash or stabilize the simulated market. Reset clears the investor's ledger: sign in to use it."}
      </p>
      {error && (
        <p role="alert" data-testid="controls-error" className="mt-3 rounded-lg bg-rose-500/10 px-3 py-2 text-sm text-rose-300">
          {error}
        </p>
      )}
    </Card>
  );
}
