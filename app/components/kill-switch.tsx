"use client";

import { useEffect, useRef, useState } from "react";
import { mutate } from "swr";
import type { AgentView } from "@/lib/agent/view";
import { formatTime } from "./ui";
import { AGENT_KEY, postJson } from "./use-agent";
import { STATE_KEY } from "./use-live-state";

/**
 * The kill switch on the agent panel: "Revoke Aurelius", confirmed in a second step (the confirm
 * button takes the focus, Escape or Cancel backs out and returns the focus), and, once revoked,
 * why and since when, with "Re-enable Aurelius". Other investors see why they have no switch.
 */
const BUTTON =
  "inline-flex items-center justify-center gap-2 rounded-xl px-3 py-2 text-sm font-semibold transition focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 focus-visible:ring-offset-slate-900 disabled:cursor-not-allowed disabled:opacity-50";

export default function KillSwitch({ agent }: { agent: AgentView }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const revokeButton = useRef<HTMLButtonElement>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  /** Set by Cancel / Escape: the focus goes back to "Revoke" once it is on screen again. */
  const refocus = useRef(false);
  const name = agent.agent.name;
  const revoked = agent.revocation?.status === "revoked";

  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
    else if (refocus.current) {
      refocus.current = false;
      revokeButton.current?.focus();
    }
  }, [confirming]);

  function cancel() {
    refocus.current = true;
    setConfirming(false);
  }

  async function send(path: string) {
    setBusy(true);
    setProblem(await postJson(path));
    setConfirming(false);
    await Promise.all([mutate(AGENT_KEY), mutate(STATE_KEY)]);
    setBusy(false);
  }

  if (revoked) {
    return (
      <div className="mt-3 rounded-xl border border-rose-500/40 bg-rose-500/10 p-3" data-testid="agent-revoked" role="status">
        <p className="text-sm font-semibold text-rose-200">{name} is revoked and stopped.</p>
        <p className="mt-1 text-sm text-rose-100/80" data-testid="agent-revoked-reason">
          Since {formatTime(agent.revocation!.revokedAt)}: {agent.revocation!.reason}. The broker refuses its tokens and its pending approvals were cancelled
          {agent.revocation!.completed ? "." : " (finishing…)."}
        </p>
        {agent.holdsKillSwitch ? (
          <>
            <button type="button" data-testid="agent-reenable" disabled={busy} onClick={() => void send("/api/agent/reenable")} className={`${BUTTON} mt-3 bg-sky-600 text-white hover:bg-sky-500 focus-visible:ring-sky-400`}>
              {busy ? "Re-enabling…" : `Re-enable ${name}`}
            </button>
            <p className="mt-1 text-xs text-slate-400">It gets fresh credentials; the tokens it held stay refused.</p>
          </>
        ) : (
          <p className="mt-2 text-xs text-slate-400" data-testid="kill-switch-not-yours">
            Only the investor who registered {name} can re-enable it.
          </p>
        )}
        {problem && <Problem text={problem} />}
      </div>
    );
  }

  if (!agent.holdsKillSwitch) {
    // The agent's OAuth client acts for every investor: its kill switch belongs to the one who registered it.
    return (
      <p className="mt-3 text-xs text-slate-400" data-testid="kill-switch-not-yours">
        {name} acts for every investor here, so only the investor who registered it can revoke it. Pause stops it for you.
      </p>
    );
  }

  return (
    <div className="mt-3">
      {!confirming ? (
        <button ref={revokeButton} type="button" data-testid="agent-revoke" disabled={busy} onClick={() => setConfirming(true)} className={`${BUTTON} bg-rose-700 text-white hover:bg-rose-600 focus-visible:ring-rose-400`}>
          Revoke {name}
        </button>
      ) : (
        <div
          role="alertdialog"
          aria-labelledby="kill-switch-title"
          aria-describedby="kill-switch-text"
          data-testid="agent-revoke-confirm"
          className="rounded-xl border border-rose-500/50 bg-rose-950/40 p-3"
          onKeyDown={(e) => e.key === "Escape" && cancel()}
        >
          <p id="kill-switch-title" className="text-sm font-semibold text-rose-200">
            Revoke {name}?
          </p>
          <p id="kill-switch-text" className="mt-1 text-sm text-slate-300">
            Its tokens stop working at the broker at once, its pending approval requests are cancelled and it stops. You can re-enable it later with fresh credentials.
          </p>
          <div className="mt-3 flex flex-wrap gap-2">
            <button ref={confirmButton} type="button" data-testid="agent-revoke-yes" disabled={busy} onClick={() => void send("/api/agent/revoke")} className={`${BUTTON} bg-rose-600 text-white hover:bg-rose-500 focus-visible:ring-rose-300`}>
              {busy ? "Revoking…" : `Yes, revoke ${name}`}
            </button>
            <button type="button" data-testid="agent-revoke-cancel" disabled={busy} onClick={cancel} className={`${BUTTON} bg-slate-700 text-slate-100 hover:bg-slate-600 focus-visible:ring-slate-400`}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {problem && <Problem text={problem} />}
    </div>
  );
}

function Problem({ text }: { text: string }) {
  return (
    <p role="alert" data-testid="kill-switch-error" className="mt-2 rounded-lg bg-rose-500/10 px-3 py-2 text-sm text-rose-300">
      {text}
    </p>
  );
}
