import { formatUsd } from "@/lib/money";
import type { MarketSnapshot, MarketTick } from "@/lib/types";
import PriceChart from "./price-chart";
import { Card, StatusBadge } from "./ui";

export default function MarketCard({ market, history, thresholdCents }: { market: MarketSnapshot; history: MarketTick[]; thresholdCents: number | null }) {
  const down = market.changeCents < 0;
  const below = thresholdCents !== null && market.priceCents < thresholdCents;
  return (
    <Card title={`Market · ${market.symbol}`} testId="market-card" action={<StatusBadge status={market.status} />}>
      <div className="flex flex-wrap items-end gap-x-4 gap-y-1">
        <p className="tabular text-4xl font-bold tracking-tight sm:text-5xl" data-testid="market-price" aria-live="polite">
          {formatUsd(market.priceCents)}
        </p>
        <p className={`tabular pb-1 text-lg font-semibold ${down ? "text-rose-400" : market.changeCents > 0 ? "text-emerald-400" : "text-slate-400"}`} data-testid="market-change">
          {down ? "▼" : market.changeCents > 0 ? "▲" : "■"} {formatUsd(market.changeCents)} ({market.changePercent.toFixed(2)}%)
        </p>
      </div>
      <p className="mt-1 text-sm text-slate-400">
        {thresholdCents === null ? (
          <span data-testid="threshold-hidden">The agent&apos;s buy threshold is shown once you sign in.</span>
        ) : (
          <>
            Buy threshold <span className="tabular font-semibold text-amber-300" data-testid="threshold">{formatUsd(thresholdCents)}</span>
            {below ? (
              <span className="ml-2 rounded bg-amber-500/15 px-1.5 py-0.5 text-xs font-semibold text-amber-300">below threshold</span>
            ) : (
              <span className="ml-2 text-xs text-slate-500">{formatUsd(market.priceCents - thresholdCents)} above</span>
            )}
          </>
        )}
        <span className="ml-2 text-xs text-slate-500">open {formatUsd(market.openCents)}</span>
      </p>
      <div className="mt-4">
        <PriceChart history={history} thresholdCents={thresholdCents} />
      </div>
    </Card>
  );
}
