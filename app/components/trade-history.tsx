import { formatUsd } from "@/lib/money";
import type { Trade } from "@/lib/types";
import AuditHeadLine from "./audit-head";
import { Card, Empty, formatTime } from "./ui";

/** Trades, attributed to the user (`sub`) with the acting agent (`act.sub`) beside it, and the audit chain's head. */
export default function TradeHistory({ trades, userName, userId }: { trades: Trade[]; userName: string; userId: string }) {
  return (
    <Card title="Trade history" testId="trade-history">
      {trades.length === 0 ? (
        <Empty testId="trades-empty">No trades yet. The agent cannot trade until {userName} approves an order.</Empty>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full min-w-[36rem] text-sm">
            <thead className="text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="px-2 py-1 font-medium first:pl-0">Time</th>
                <th className="px-2 py-1 font-medium first:pl-0">Order</th>
                <th className="px-2 py-1 text-right font-medium">Price</th>
                <th className="px-2 py-1 text-right font-medium">Amount</th>
                <th className="px-2 py-1 font-medium first:pl-0">For (sub)</th>
                <th className="px-2 py-1 font-medium first:pl-0">By (act.sub)</th>
              </tr>
            </thead>
            <tbody className="tabular">
              {trades.map((t) => (
                <tr key={t.id} className="border-t border-slate-800" data-testid="trade-row">
                  <td className="px-2 py-1.5 text-slate-400">{formatTime(t.at)}</td>
                  <td className="px-2 py-1.5">
                    <span className={t.side === "buy" ? "text-emerald-300" : "text-rose-300"}>{t.side.toUpperCase()}</span> {t.quantity} {t.symbol}
                  </td>
                  <td className="px-2 py-1.5 text-right">{formatUsd(t.priceCents)}</td>
                  <td className="px-2 py-1.5 text-right">{formatUsd(t.notionalCents)}</td>
                  <td className="px-2 py-1.5" data-testid="trade-user">{t.userSub === userId ? `${userName} (${t.userSub})` : t.userSub}</td>
                  <td className="px-2 py-1.5" data-testid="trade-actor">{t.actorSub ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <AuditHeadLine />
    </Card>
  );
}
