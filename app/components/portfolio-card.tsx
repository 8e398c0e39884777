import { formatUsd } from "@/lib/money";
import type { Portfolio } from "@/lib/types";
import { Card, Empty } from "./ui";

export default function PortfolioCard({ portfolio, name }: { portfolio: Portfolio | null; name: string }) {
  if (!portfolio) {
    return (
      <Card title={`${name}'s portfolio`} testId="portfolio-card">
        <Empty>No portfolio yet.</Empty>
      </Card>
    );
  }
  const pnlClass = portfolio.pnlCents < 0 ? "text-rose-400" : portfolio.pnlCents > 0 ? "text-emerald-400" : "text-slate-300";
  return (
    <Card title={`${name}'s portfolio`} testId="portfolio-card">
      <dl className="grid grid-cols-2 gap-3">
        <Stat label="Cash" value={formatUsd(portfolio.cashCents)} testId="portfolio-cash" />
        <Stat label="Total value" value={formatUsd(portfolio.totalValueCents)} testId="portfolio-value" />
        <Stat label="Holdings value" value={formatUsd(portfolio.holdingsValueCents)} testId="portfolio-holdings-value" />
        <Stat label="P&L" value={formatUsd(portfolio.pnlCents)} testId="portfolio-pnl" className={pnlClass} />
      </dl>
      <div className="mt-4">
        {portfolio.holdings.length === 0 ? (
          <Empty testId="holdings-empty">No shares held yet.</Empty>
        ) : (
          <table className="w-full text-sm" data-testid="holdings">
            <thead className="text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="py-1 font-medium">Symbol</th>
                <th className="py-1 text-right font-medium">Shares</th>
                <th className="py-1 text-right font-medium">Avg cost</th>
                <th className="py-1 text-right font-medium">P&L</th>
              </tr>
            </thead>
            <tbody className="tabular">
              {portfolio.holdings.map((h) => (
                <tr key={h.symbol} className="border-t border-slate-800" data-testid={`holding-${h.symbol}`}>
                  <td className="py-1.5 font-semibold">{h.symbol}</td>
                  <td className="py-1.5 text-right" data-testid="holding-quantity">{h.quantity}</td>
                  <td className="py-1.5 text-right">{formatUsd(h.averageCostCents)}</td>
                  <td className={`py-1.5 text-right ${h.pnlCents < 0 ? "text-rose-400" : "text-emerald-400"}`}>{formatUsd(h.pnlCents)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </Card>
  );
}

function Stat({ label, value, testId, className = "" }: { label: string; value: string; testId: string; className?: string }) {
  return (
    <div className="rounded-xl bg-slate-950/60 p-3">
      <dt className="text-xs text-slate-500">{label}</dt>
      <dd className={`tabular mt-0.5 text-lg font-semibold ${className}`} data-testid={testId}>{value}</dd>
    </div>
  );
}
