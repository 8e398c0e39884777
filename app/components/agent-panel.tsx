"use client";

import { useEffect, useState, type FormEvent } from "react";
import { mutate } from "swr";
import type { AgentView } from "@/lib/agent/view";
import type { AgentState } from "@/lib/agent/state-machine";
import { formatMoney, formatUsd } from "@/lib/money";
import { PauseIcon } from "./icons";
import KillSwitch from "./kill-switch";
import { Card, formatTime } from "./ui";
import { AGENT_KEY, postJson, useNow } from "./use-agent";
import { STATE_KEY } from "./use-live-state";

/** The agent: its state, its model, pause / resume, and Alice's mandate (threshold, budget). */
const STATE_STYLE: Record<AgentState, string> = {
  MONITORING: "bg-sky-500/15 text-sky-300 ring-sky-500/40",
  PROPOSING: "bg-violet-500/15 text-violet-300 ring-violet-500/40 animate-pulse",
  AWAITING_APPROVAL: "bg-amber-500/15 text-amber-300 ring-amber-500/40 animate-pulse",
  EXECUTING: "bg-emerald-500/15 text-emerald-300 ring-emerald-500/40 animate-pulse",
  DONE: "bg-emerald-500/20 text-emerald-200 ring-emerald-400/50",
  DENIED: "bg-rose-500/15 text-rose-300 ring-rose-500/40",
  EXPIRED: "bg-slate-500/20 text-slate-300 ring-slate-500/40",
  FAILED: "bg-rose-500/15 text-rose-300 ring-rose-500/40",
};

const REVOKED_STYLE = "bg-rose-600/25 text-rose-200 ring-rose-500/60";

export default function AgentPanel({ agent, error }: { agent: AgentView | undefined; error?: Error }) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const now = useNow(1000);

  if (!agent) {
    return (
      <Card title="Agent" testId="agent-panel">
        <p className="text-sm text-slate-400">{error ? `The agent's state could not be loaded: ${error.message}` : "Loading…"}</p>
      </Card>
    );
  }

  async function toggle() {
    setBusy(true);
    setProblem(await postJson(agent!.paused ? "/api/agent/resume" : "/api/agent/pause"));
    await mutate(AGENT_KEY);
    setBusy(false);
  }

  const revoked = agent.revocation?.status === "revoked";
  const cooldownLeft = agent.cooldownUntil ? Math.max(0, Math.round((Date.parse(agent.cooldownUntil) - now) / 1000)) : 0;
  const button =
    "inline-flex items-center justify-center gap-2 rounded-xl px-3 py-2 text-sm font-semibold transition focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 focus-visible:ring-offset-slate-900 disabled:cursor-not-allowed disabled:opacity-50";
  return (
    <Card
      title={`Agent · ${agent.agent.name}`}
      testId="agent-panel"
      action={
        <span data-testid="agent-state" data-state={revoked ? "REVOKED" : agent.state} className={`inline-flex items-center rounded-full px-2.5 py-0.5 text-xs font-bold tracking-wide ring-1 ${revoked ? REVOKED_STYLE : STATE_STYLE[agent.state]}`}>
          {revoked ? "REVOKED" : agent.paused ? "PAUSED" : agent.state.replace("_", " ")}
        </span>
      }
    >
      <dl className="grid grid-cols-2 gap-2 text-sm">
        <div className="rounded-xl bg-slate-950/60 p-2.5">
          <dt className="text-xs text-slate-500">Model</dt>
          <dd className="font-semibold" data-testid="agent-model" data-kind={agent.model?.kind ?? "none"}>
            {agent.model ? (agent.model.kind === "rules" ? "rules (built-in)" : agent.model.label) : "—"}
          </dd>
        </div>
        <div className="rounded-xl bg-slate-950/60 p-2.5">
          <dt className="text-xs text-slate-500">Last price read via MCP</dt>
          <dd className="tabular font-semibold" data-testid="agent-last-price">
            {agent.lastPrice ? `${formatUsd(agent.lastPrice.priceCents)} · ${formatTime(agent.lastPrice.at)}` : "—"}
          </dd>
        </div>
      </dl>
      {!agent.running && !revoked && (
        <p className="mt-2 rounded-lg bg-amber-500/10 px-3 py-2 text-sm text-amber-300" data-testid="agent-not-running">
          The agent loop is not running in this server ({agent.enabled ? "it could not start; see the server log" : "AGENT_ENABLED=false"}).
        </p>
      )}
      {agent.reason && (
        <p className="mt-2 text-sm text-slate-300" data-testid="agent-reason">
          <span className="text-slate-500">Last outcome: </span>
          {agent.reason}
        </p>
      )}
      {cooldownLeft > 0 && (
        <p className="mt-1 text-xs text-slate-400" data-testid="agent-cooldown">
          Cooling down: no new proposal for {cooldownLeft} s.
        </p>
      )}
      {!agent.armed && (
        <p className="mt-1 text-xs text-slate-400" data-testid="agent-disarmed">
          One trade per fall: the agent proposes again after the price has been back above the threshold.
        </p>
      )}
      <div className="mt-3 flex flex-wrap gap-2">
        <button
          type="button"
          data-testid={agent.paused ? "agent-resume" : "agent-pause"}
          onClick={() => void toggle()}
          disabled={busy || !agent.running || revoked}
          className={`${button} ${agent.paused ? "bg-sky-600 text-white hover:bg-sky-500 focus-visible:ring-sky-400" : "bg-slate-700 text-slate-100 hover:bg-slate-600 focus-visible:ring-slate-400"}`}
        >
          <PauseIcon /> {agent.paused ? "Resume agent" : "Pause agent"}
        </button>
      </div>
      <KillSwitch agent={agent} />
      <MandateEditor agent={agent} />
      {problem && (
        <p role="alert" data-testid="agent-error" className="mt-3 rounded-lg bg-rose-500/10 px-3 py-2 text-sm text-rose-300">
          {problem}
        </p>
      )}
    </Card>
  );
}

function MandateEditor({ agent }: { agent: AgentView }) {
  const [threshold, setThreshold] = useState(formatMoney(agent.mandate.thresholdCents));
  const [budget, setBudget] = useState(formatMoney(agent.mandate.budgetCents));
  const [dirty, setDirty] = useState(false);
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const [saving, setSaving] = useState(false);

  // Follow the server's mandate unless the user is editing.
  useEffect(() => {
    if (dirty) return;
    setThreshold(formatMoney(agent.mandate.thresholdCents));
    setBudget(formatMoney(agent.mandate.budgetCents));
  }, [agent.mandate.thresholdCents, agent.mandate.budgetCents, dirty]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setSaving(true);
    const error = await postJson("/api/agent/mandate", { threshold: threshold.trim(), budget: budget.trim() });
    setStatus(error ? { ok: false, text: error } : { ok: true, text: "Mandate saved." });
    if (!error) setDirty(false);
    await Promise.all([mutate(AGENT_KEY), mutate(STATE_KEY)]);
    setSaving(false);
  }

  const input =
    "tabular w-full rounded-lg border border-slate-700 bg-slate-950 px-2.5 py-1.5 text-sm text-slate-100 focus-visible:border-sky-500 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-500/40";
  return (
    <form onSubmit={(e) => void save(e)} className="mt-4 border-t border-slate-800 pt-3" data-testid="mandate-form" noValidate>
      <p className="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-400">
        Mandate · {agent.mandate.symbol}
        {agent.mandate.edited && <span className="ml-2 font-normal normal-case text-slate-500">(edited)</span>}
      </p>
      <div className="grid grid-cols-2 gap-2">
        <label className="text-xs text-slate-400">
          Buy below (USD)
          <input
            className={input}
            inputMode="decimal"
            value={threshold}
            onChange={(e) => (setThreshold(e.target.value), setDirty(true))}
            data-testid="mandate-threshold"
            aria-describedby="mandate-help"
          />
        </label>
        <label className="text-xs text-slate-400">
          Budget per order (USD)
          <input className={input} inputMode="decimal" value={budget} onChange={(e) => (setBudget(e.target.value), setDirty(true))} data-testid="mandate-budget" aria-describedby="mandate-help" />
        </label>
      </div>
      <p id="mandate-help" className="mt-1 text-xs text-slate-500">
        At most {agent.mandate.maxQuantity} shares per order. Every order still needs {agent.investor.name}&apos;s approval.
      </p>
      <button
        type="submit"
        disabled={saving || !agent.running}
        data-testid="mandate-save"
        className="mt-2 rounded-lg bg-slate-700 px-3 py-1.5 text-sm font-semibold text-slate-100 hover:bg-slate-600 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400 disabled:opacity-50"
      >
        {saving ? "Saving…" : "Save mandate"}
      </button>
      {status && (
        <p role={status.ok ? "status" : "alert"} data-testid={status.ok ? "mandate-saved" : "mandate-error"} className={`mt-2 text-sm ${status.ok ? "text-emerald-300" : "text-rose-300"}`}>
          {status.text}
        </p>
      )}
    </form>
  );
}
