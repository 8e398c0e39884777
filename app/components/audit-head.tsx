"use client";

import type { ReactNode } from "react";
import useSWR from "swr";
import type { AuditHead } from "@/lib/audit/head";
import { AlertIcon, CheckIcon } from "./icons";
import { fetchJson } from "./use-live-state";

/**
 * One line under the trade history: the audit chain's head (short hash, record count) and
 * whether the chain in the store verifies (GET /api/audit/head). The full hash is in the title,
 * to note down and pass to `npm run audit -- verify FILE --head HASH` later.
 */
export const AUDIT_HEAD_KEY = "/api/audit/head";

export default function AuditHeadLine() {
  const { data, error } = useSWR<AuditHead>(AUDIT_HEAD_KEY, fetchJson, { refreshInterval: 5000, keepPreviousData: true });
  if (error && !data) return <Line state="unknown">Audit chain: could not be read ({error.message})</Line>;
  if (!data) return <Line state="loading">Audit chain: reading…</Line>;
  const records = `${data.count.toLocaleString("en-US")} record${data.count === 1 ? "" : "s"}`;
  return (
    <Line state={data.verified ? "verified" : "broken"}>
      <span>Audit chain: {records}</span>
      {data.head && (
        <>
          {" · head "}
          <code className="text-slate-300" title={data.head.hash} data-testid="audit-head-hash">
            {data.head.hash.slice(0, 12)}
          </code>
        </>
      )}
      {" · "}
      {data.verified ? (
        <span className="inline-flex items-center gap-1 text-emerald-300">
          <CheckIcon /> verifies
        </span>
      ) : (
        <span className="inline-flex items-center gap-1 text-rose-300" title={data.problem}>
          <AlertIcon /> broken at record {data.brokenAt}
        </span>
      )}
    </Line>
  );
}

function Line({ state, children }: { state: string; children: ReactNode }) {
  return (
    <p className="mt-3 border-t border-slate-800 pt-2 text-xs text-slate-500" data-testid="audit-head" data-state={state} role="status">
      {children}
    </p>
  );
}
