"use client";

import type { ReactNode } from "react";
import type { TokenClaims } from "@/lib/auth/types";
import { SCOPE_TRADE } from "@/lib/protocol";
import { Card } from "./ui";
import { useNow } from "./use-agent";

/**
 * The agent token and the on-behalf-of token side by side, as decoded claims. The server keeps
 * and sends claims only: the token strings never reach the browser.
 */
export default function TokenInspector({ agentToken, oboToken, investorName }: { agentToken: TokenClaims | null; oboToken: TokenClaims | null; investorName: string }) {
  return (
    <Card title="Token inspector" testId="token-inspector">
      <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-1 xl:grid-cols-2">
        <TokenColumn title="Agent token" hint="the agent alone: read-only" claims={agentToken} testId="token-agent" empty="Not obtained yet." />
        <TokenColumn
          title="On-behalf-of token"
          hint={`${investorName} via the agent: one order`}
          claims={oboToken}
          testId="token-obo"
          empty={`Appears when ${investorName} approves an order. Used once, then discarded.`}
        />
      </div>
      <p className="mt-3 text-xs text-slate-500">Decoded claims only; the tokens themselves never leave the server.</p>
    </Card>
  );
}

function TokenColumn({ title, hint, claims, testId, empty }: { title: string; hint: string; claims: TokenClaims | null; testId: string; empty: string }) {
  return (
    <section data-testid={testId} data-present={claims ? "true" : "false"} className="min-w-0 rounded-xl border border-slate-800 bg-slate-950/60 p-3">
      <h3 className="text-sm font-semibold text-slate-200">{title}</h3>
      <p className="mb-2 text-xs text-slate-500">{hint}</p>
      {!claims ? (
        <p className="text-xs text-slate-500">{empty}</p>
      ) : claims.opaque ? (
        <p className="text-xs text-slate-400">An opaque token: it has no claims to show.</p>
      ) : (
        <Claims claims={claims} />
      )}
    </section>
  );
}

function Claims({ claims }: { claims: TokenClaims }) {
  const now = useNow(1000);
  const rows: [string, string, ReactNode][] = [
    ["sub", "sub", claims.sub ?? "—"],
    ["act-sub", "act.sub", claims.act?.sub ?? "—"],
    ["scope", "scope", claims.scope ? <Scopes scope={claims.scope} /> : "—"],
    ["aud", "aud", [claims.aud ?? "—"].flat().join(" ")],
    ["exp", "exp", claims.exp ? expiry(claims.exp, now) : "—"],
  ];
  // RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token is tied to; without it, a bearer token.
  rows.push(["cnf-jkt", "cnf.jkt", claims.cnf?.jkt ? `${claims.cnf.jkt} (DPoP-bound)` : "— (bearer)"]);
  if (claims.client_id) rows.push(["client_id", "client_id", claims.client_id]);
  if (claims.aut) rows.push(["aut", "aut", claims.aut]);
  return (
    <dl className="space-y-1.5 text-xs">
      {rows.map(([id, label, value]) => (
        <div key={id}>
          <dt className="font-mono text-[11px] text-slate-500">{label}</dt>
          <dd className="min-w-0 break-all font-mono text-slate-200" data-testid={`claim-${id}`}>{value}</dd>
        </div>
      ))}
      <div>
        <dt className="font-mono text-[11px] text-slate-500">authorization_details</dt>
        <dd className="min-w-0 font-mono text-slate-200" data-testid="claim-authorization_details">
          {claims.authorization_details?.length ? claims.authorization_details.map((d, i) => <Detail key={i} detail={d} />) : "—"}
        </dd>
      </div>
    </dl>
  );
}

const FIELD_ORDER = ["type", "order_id", "symbol", "side", "quantity", "limit_price", "max_notional", "expires_at"];
const rank = (k: string) => (FIELD_ORDER.includes(k) ? FIELD_ORDER.indexOf(k) : FIELD_ORDER.length);

/** One authorization_details entry as `field: value` lines (RFC 9396 §2), in the order's own field order. */
function Detail({ detail }: { detail: unknown }) {
  const entries = detail && typeof detail === "object" ? Object.entries(detail as Record<string, unknown>).sort(([a], [b]) => rank(a) - rank(b)) : [];
  return (
    <ul className="mt-0.5 rounded-lg bg-slate-900 px-2 py-1.5 text-[11px] leading-snug">
      {entries.map(([k, v]) => (
        <li key={k} className="break-all">
          <span className="text-slate-500">{k}: </span>
          {typeof v === "string" ? v : JSON.stringify(v)}
        </li>
      ))}
    </ul>
  );
}

function Scopes({ scope }: { scope: string }) {
  return (
    <span className="flex flex-wrap gap-1">
      {scope.split(" ").filter(Boolean).map((s) => (
        <span key={s} className={`whitespace-nowrap rounded px-1.5 py-0.5 ${s === SCOPE_TRADE ? "bg-emerald-500/15 text-emerald-300" : "bg-slate-800 text-slate-300"}`}>
          {s}
        </span>
      ))}
    </span>
  );
}

function expiry(exp: number, now: number): string {
  const left = Math.round(exp - now / 1000);
  const at = new Date(exp * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return left > 0 ? `${at} (in ${left >= 120 ? `${Math.round(left / 60)} min` : `${left} s`})` : `${at} (expired)`;
}
