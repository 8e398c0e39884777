"use client";

import type { ReactNode } from "react";
import useSWR from "swr";
import type { Assurance, Guarantee, GuaranteeTone } from "@/lib/assurance/derive";
import { AlertIcon, CheckIcon, DashIcon, QuestionIcon } from "./icons";
import { fetchJson } from "./use-live-state";

/**
 * Which guarantees bind a trade to the user's approval in this deployment (GET
 * /api/agent/assurance, lib/assurance): the order in the token, the recorded approval, DPoP. One
 * line each; the facts behind it fold out under "Why" (a native disclosure: Tab and Enter).
 * Refetched with every agent event (use-live-state.ts), since a new token can settle DPoP.
 */
export const ASSURANCE_KEY = "/api/agent/assurance";

const TONE: Record<GuaranteeTone, { label: string; chip: string; icon: ReactNode }> = {
  good: { label: "Holds", chip: "bg-emerald-500/15 text-emerald-300 ring-emerald-500/40", icon: <CheckIcon /> },
  neutral: { label: "Not needed", chip: "bg-slate-500/15 text-slate-300 ring-slate-500/40", icon: <DashIcon /> },
  weak: { label: "Not in force", chip: "bg-amber-500/15 text-amber-300 ring-amber-500/40", icon: <AlertIcon /> },
  unknown: { label: "Unknown", chip: "bg-slate-700/40 text-slate-300 ring-slate-500/40", icon: <QuestionIcon /> },
};

export default function AssurancePanel({ investorName }: { investorName?: string }) {
  const { data, error } = useSWR<Assurance>(ASSURANCE_KEY, fetchJson, { revalidateOnFocus: true, keepPreviousData: true });
  return (
    <section aria-labelledby="assurance-heading" data-testid="assurance-panel" data-provider={data?.provider ?? ""} className="mb-5 rounded-2xl border border-slate-800 bg-slate-900/40 p-3 sm:p-4">
      <header className="mb-2 flex flex-wrap items-baseline justify-between gap-x-3">
        <h2 id="assurance-heading" className="text-xs font-semibold uppercase tracking-wider text-slate-400">
          Assurance in force
        </h2>
        <p className="text-xs text-slate-500">how a trade is bound to {investorName ?? "the user"}&apos;s approval{data ? ` · ${data.provider}` : ""}</p>
      </header>
      {data ? (
        <ul className="grid gap-2 sm:grid-cols-3">
          {data.guarantees.map((g) => (
            <GuaranteeItem key={g.id} guarantee={g} />
          ))}
        </ul>
      ) : error ? (
        <p className="text-sm text-slate-400" data-testid="assurance-unknown" role="status">
          <span className={`mr-2 inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-bold ring-1 ${TONE.unknown.chip}`}>
            {TONE.unknown.icon} {TONE.unknown.label}
          </span>
          The assurance could not be determined: {error.message}
        </p>
      ) : (
        <p className="text-sm text-slate-500" data-testid="assurance-loading" aria-busy="true">
          Checking the server&apos;s metadata…
        </p>
      )}
    </section>
  );
}

function GuaranteeItem({ guarantee: g }: { guarantee: Guarantee }) {
  const tone = TONE[g.tone];
  return (
    <li className="min-w-0 rounded-xl border border-slate-800 bg-slate-950/60 p-2.5" data-testid="assurance-item" data-id={g.id} data-state={g.state} data-tone={g.tone}>
      <div className="flex items-start justify-between gap-2">
        <h3 className="text-sm font-semibold text-slate-200">{g.title}</h3>
        <span className={`inline-flex shrink-0 items-center gap-1 rounded-full px-2 py-0.5 text-[11px] font-bold ring-1 ${tone.chip}`} data-testid="assurance-state">
          {tone.icon} {tone.label}
        </span>
      </div>
      <p className="mt-1 text-xs text-slate-400" data-testid="assurance-summary">
        {g.summary}
      </p>
      <details className="mt-1 text-xs text-slate-500">
        <summary className="w-fit cursor-pointer rounded px-0.5 text-slate-400 hover:text-slate-200 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400">Why</summary>
        <ul className="mt-1 list-disc space-y-0.5 pl-4" data-testid="assurance-basis">
          {g.basis.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      </details>
    </li>
  );
}
