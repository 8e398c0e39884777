"use client";

import type { AgentApprovalView, AgentOrderView, AgentView } from "@/lib/agent/view";
import { describeOrder } from "@/lib/orders/display";
import { MailIcon } from "./icons";
import { Card, Empty } from "./ui";
import { useNow } from "./use-agent";

/**
 * The approval the agent waits for: the exact order, the binding message Alice sees on her
 * phone, a live countdown to the request's expiry, and then what became of it (approved,
 * executed, denied, expired, failed). Everything here is rendered from the frozen order, never
 * from model output, in the words of the approval page and the email (lib/orders/display.ts).
 */
type Phase = "pending" | "approved" | "executed" | "denied" | "expired" | "failed" | "cancelled" | "preparing";

const PHASE: Record<Phase, { label: string; className: string }> = {
  preparing: { label: "Preparing", className: "bg-sky-500/15 text-sky-300 ring-sky-500/40" },
  pending: { label: "Waiting for approval", className: "bg-amber-500/15 text-amber-300 ring-amber-500/40 animate-pulse" },
  approved: { label: "Approved · executing", className: "bg-emerald-500/15 text-emerald-300 ring-emerald-500/40" },
  executed: { label: "Executed", className: "bg-emerald-500/20 text-emerald-200 ring-emerald-400/50" },
  denied: { label: "Denied", className: "bg-rose-500/15 text-rose-300 ring-rose-500/40" },
  expired: { label: "Expired", className: "bg-slate-500/20 text-slate-300 ring-slate-500/40" },
  failed: { label: "Failed", className: "bg-rose-500/15 text-rose-300 ring-rose-500/40" },
  cancelled: { label: "Cancelled", className: "bg-slate-500/20 text-slate-300 ring-slate-500/40" },
};

/** The rows of the order's description the card shows as facts (the headline names the rest), by their test id here. */
const FACTS: Record<string, string> = {
  "order-limit-price": "approval-limit",
  "order-max-notional": "approval-max",
  "order-expires-at": "approval-expires",
};

export function phaseOf(order: AgentOrderView, approval: AgentApprovalView | null): Phase {
  if (order.status === "executed") return "executed";
  if (order.status === "denied" || order.status === "expired" || order.status === "failed" || order.status === "cancelled") return order.status;
  if (!approval) return "preparing";
  if (approval.status === "approved") return "approved";
  if (approval.status === "pending") return "pending";
  return approval.status === "denied" || approval.status === "expired" || approval.status === "cancelled" ? approval.status : "failed";
}

export default function ApprovalCard({ agent }: { agent: AgentView | undefined }) {
  const order = agent?.order ?? null;
  if (!agent || !order) {
    return (
      <Card title="Approval" testId="approval-card">
        <Empty testId="approval-empty">
          No approval pending. When the agent wants to trade, the request {agent?.investor.name ?? "the investor"} must approve appears here.
        </Empty>
      </Card>
    );
  }
  const approval = agent.approval;
  const phase = phaseOf(order, approval);
  const view = describeOrder({
    order_id: order.orderId,
    symbol: order.symbol,
    side: order.side,
    quantity: order.quantity,
    limit_price: order.limitPrice,
    max_notional: order.maxNotional,
    expires_at: order.expiresAt,
  });
  const style = PHASE[phase];
  return (
    <Card
      title="Approval"
      testId="approval-card"
      action={
        <span data-testid="approval-status" data-status={phase} className={`inline-flex items-center rounded-full px-2.5 py-0.5 text-xs font-bold ring-1 ${style.className}`}>
          {style.label}
        </span>
      }
    >
      <div data-testid="approval-order" data-order-id={order.orderId} className="grid gap-3 sm:grid-cols-[1fr_auto] sm:items-start">
        <div>
          <p className="text-lg font-semibold">
            <span className={order.side === "buy" ? "text-emerald-300" : "text-rose-300"}>{view.side}</span>{" "}
            <span data-testid="approval-quantity">{order.quantity}</span> {order.symbol}
          </p>
          <dl className="tabular mt-1 grid grid-cols-2 gap-x-4 gap-y-0.5 text-sm text-slate-400 sm:grid-cols-3">
            {view.rows
              .filter((row) => row.testId in FACTS)
              .map((row) => (
                <Fact key={row.testId} label={row.label} value={row.value} testId={FACTS[row.testId]} />
              ))}
          </dl>
          <p className="mt-1 break-all text-xs text-slate-500">order {order.orderId}</p>
          <p className="mt-1 text-xs text-slate-400" data-testid="approval-binding" data-binding={agent.binding}>
            {agent.binding === "rar"
              ? "Binding: the approved order travels in the token (authorization_details)."
              : `Binding: the identity server cannot put the order into the token, so the broker executes this order only once ${agent.investor.name} has approved it, with the one token obtained for her approval, once.`}
          </p>
        </div>
        {approval && (
          <div className="rounded-xl border border-slate-700 bg-slate-950/60 px-3 py-2 text-center">
            <p className="text-[11px] uppercase tracking-wider text-slate-500">Binding message</p>
            <p className="font-mono text-sm font-semibold text-sky-200" data-testid="approval-binding-message">{approval.bindingMessage}</p>
          </div>
        )}
      </div>

      {phase === "pending" && approval && <Countdown approval={approval} />}
      {phase === "pending" && agent.authProvider === "embedded" && (
        <a href="/inbox" target="_blank" rel="noreferrer" data-testid="approval-inbox-link" className="mt-3 inline-flex items-center gap-2 rounded-lg bg-sky-600 px-3 py-2 text-sm font-semibold text-white hover:bg-sky-500 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-300">
          <MailIcon className="h-4 w-4" /> Check your email — open the mailbox
        </a>
      )}
      {phase === "pending" && agent.authProvider !== "embedded" && (
        <p className="mt-3 text-sm text-slate-300">{agent.investor.name} was notified by the identity server ({agent.investor.email}).</p>
      )}
      {phase === "pending" && approval?.lastError && (
        <p className="mt-2 text-xs text-amber-300" data-testid="approval-last-error">Last poll: {approval.lastError}. The request is kept; polling every {approval.intervalSeconds} s or slower.</p>
      )}
      <Outcome phase={phase} order={order} agent={agent} />
    </Card>
  );
}

function Countdown({ approval }: { approval: AgentApprovalView }) {
  const now = useNow(500);
  const start = Date.parse(approval.createdAt);
  const end = Date.parse(approval.expiresAt);
  const left = Math.max(0, Math.round((end - now) / 1000));
  const fraction = end > start ? Math.min(1, Math.max(0, (end - now) / (end - start))) : 0;
  return (
    <div className="mt-4" data-testid="approval-countdown" data-seconds-left={left}>
      <div className="mb-1 flex justify-between text-xs text-slate-400">
        <span>Time left for the approval · polling every {approval.intervalSeconds} s</span>
        <span className="tabular font-semibold text-slate-200">
          {Math.floor(left / 60)}:{String(left % 60).padStart(2, "0")}
        </span>
      </div>
      <div className="h-2 overflow-hidden rounded-full bg-slate-800" role="progressbar" aria-label="Time left to approve" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(fraction * 100)}>
        <div className={`h-full rounded-full transition-[width] duration-500 ${fraction < 0.2 ? "bg-rose-500" : "bg-amber-400"}`} style={{ width: `${fraction * 100}%` }} />
      </div>
    </div>
  );
}

function Outcome({ phase, order, agent }: { phase: Phase; order: AgentOrderView; agent: AgentView }) {
  const text: Partial<Record<Phase, string>> = {
    preparing: "The order is frozen; the agent is asking the broker, which will demand the investor's approval.",
    approved: `${agent.investor.name} approved. The agent is buying with the on-behalf-of token.`,
    executed: `Bought for ${agent.investor.name}${order.tradeId ? ` (trade ${order.tradeId})` : ""}. The on-behalf-of token was discarded.`,
    denied: `${agent.investor.name} denied the request. Nothing was bought.`,
    expired: "The request expired before a decision. Nothing was bought.",
    failed: "Nothing was bought.",
    // Why (a demo reset, the kill switch) is the order's status reason, shown below.
    cancelled: "Cancelled. Nothing was bought.",
  };
  const message = text[phase];
  if (!message) return null;
  const good = phase === "executed" || phase === "approved";
  return (
    <p data-testid="approval-outcome" className={`mt-3 rounded-lg px-3 py-2 text-sm ${good ? "bg-emerald-500/10 text-emerald-200" : phase === "preparing" ? "bg-sky-500/10 text-sky-200" : "bg-slate-800/80 text-slate-300"}`}>
      {message}
      {order.statusReason && phase !== "executed" && <span className="block text-xs text-slate-400">{order.statusReason}</span>}
    </p>
  );
}

function Fact({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div>
      <dt className="text-[11px] uppercase tracking-wider text-slate-500">{label}</dt>
      <dd className="font-semibold text-slate-200" data-testid={testId}>{value}</dd>
    </div>
  );
}
