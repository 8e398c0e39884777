"use client";

import { useState } from "react";
import useSWR from "swr";
import { Card } from "./ui";

/**
 * Alice's standing mandate: grant one (the authorization server then asks her to approve it on its
 * approval page, as for an order), see what it has spent today, revoke it.
 */
type View = {
  supported: boolean;
  mandate: null | { mandate_id: string; status: "requested" | "granted" | "revoked"; symbol: string; max_per_trade: string; max_per_day: string; expires_at: string; spent_today: string };
};

const KEY = "/api/standing-mandate";
const INPUT = "w-full rounded-lg border border-slate-700 bg-slate-950 px-2 py-1.5 text-sm text-slate-100 focus:border-sky-500 focus:outline-none";
const BUTTON = "inline-flex items-center justify-center rounded-xl px-3 py-2 text-sm font-semibold transition disabled:cursor-not-allowed disabled:opacity-50";

async function fetchView(url: string): Promise<View> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`The server answered ${res.status}.`);
  return (await res.json()) as View;
}

async function send(method: "POST" | "DELETE", body: unknown): Promise<string | null> {
  const res = await fetch(KEY, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.ok) return null;
  const data = (await res.json().catch(() => ({}))) as { error_description?: string };
  return data.error_description ?? `The server answered ${res.status}.`;
}

export default function StandingMandateCard({ symbol }: { symbol: string }) {
  const { data, mutate } = useSWR<View>(KEY, fetchView, { refreshInterval: 2000 });
  const [perTrade, setPerTrade] = useState("6000.00");
  const [perDay, setPerDay] = useState("9000.00");
  const [until, setUntil] = useState(() => new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10));
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  async function act(method: "POST" | "DELETE", body: unknown) {
    setBusy(true);
    setProblem(await send(method, body));
    await mutate();
    setBusy(false);
  }

  const m = data?.mandate;
  return (
    <Card title="Standing mandate" testId="standing-mandate">
      {!data ? (
        <p className="text-sm text-slate-400">Loading…</p>
      ) : !data.supported ? (
        <p className="text-sm text-slate-400" data-testid="standing-mandate-unsupported">
          This identity server cannot issue a standing mandate: every trade needs your approval.
        </p>
      ) : m ? (
        <div className="space-y-2 text-sm" data-testid="standing-mandate-current" data-status={m.status}>
          <p className="text-slate-200">
            {m.status === "requested" ? "Waiting for your approval (check your mailbox): " : "In force: "}
            buy {m.symbol} up to <b>{m.max_per_trade} USD</b> per trade and <b>{m.max_per_day} USD</b> per day, until {new Date(m.expires_at).toUTCString()}.
          </p>
          <p className="text-slate-300">
            Spent today: <b data-testid="standing-mandate-spent">{m.spent_today} USD</b> of {m.max_per_day} USD
          </p>
          <button type="button" data-testid="standing-mandate-revoke" disabled={busy} onClick={() => void act("DELETE", { mandate_id: m.mandate_id })} className={`${BUTTON} bg-rose-600 text-white hover:bg-rose-500`}>
            {busy ? "Revoking…" : "Revoke mandate"}
          </button>
        </div>
      ) : (
        <form
          className="grid grid-cols-3 gap-2 text-sm"
          data-testid="standing-mandate-form"
          onSubmit={(e) => {
            e.preventDefault();
            void act("POST", { symbol, max_per_trade: perTrade, max_per_day: perDay, expires_at: new Date(`${until}T23:59:59Z`).toISOString() });
          }}
        >
          <label className="text-slate-400">
            Per trade (USD)
            <input className={INPUT} value={perTrade} onChange={(e) => setPerTrade(e.target.value)} data-testid="standing-mandate-per-trade" />
          </label>
          <label className="text-slate-400">
            Per day (USD)
            <input className={INPUT} value={perDay} onChange={(e) => setPerDay(e.target.value)} data-testid="standing-mandate-per-day" />
          </label>
          <label className="text-slate-400">
            Until
            <input type="date" className={INPUT} value={until} onChange={(e) => setUntil(e.target.value)} data-testid="standing-mandate-until" />
          </label>
          <button type="submit" disabled={busy} data-testid="standing-mandate-grant" className={`${BUTTON} col-span-3 bg-sky-600 text-white hover:bg-sky-500`}>
            {busy ? "Asking…" : `Grant a standing mandate for ${symbol}`}
          </button>
        </form>
      )}
      {problem && (
        <p className="mt-2 text-sm text-rose-300" role="alert" data-testid="standing-mandate-problem">
          {problem}
        </p>
      )}
    </Card>
  );
}
