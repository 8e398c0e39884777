"use client";

import { useEffect, useMemo, useRef } from "react";
import type { AutoscaleInfo, IChartApi, ISeriesApi, IPriceLine, UTCTimestamp } from "lightweight-charts";
import type { MarketTick } from "@/lib/types";

/**
 * The price chart of recent ticks (lightweight-charts), with the agent's buy threshold as a
 * dashed line (when the viewer may see it: it is Alice's). The library draws on a canvas, so it is
 * loaded in the browser only.
 */
export default function PriceChart({ history, thresholdCents }: { history: MarketTick[]; thresholdCents: number | null }) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<ChartRefs | null>(null);
  const points = useMemo(() => toPoints(history), [history]);
  const latest = useRef({ points, thresholdCents });
  latest.current = { points, thresholdCents };

  useEffect(() => {
    let disposed = false;
    void import("lightweight-charts").then(({ createChart, AreaSeries, LineStyle, ColorType }) => {
      if (disposed || !container.current) return;
      const api = createChart(container.current, {
        autoSize: true,
        layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: "#94a3b8", attributionLogo: false },
        grid: { vertLines: { color: "rgba(51,65,85,0.35)" }, horzLines: { color: "rgba(51,65,85,0.35)" } },
        rightPriceScale: { borderColor: "#334155" },
        timeScale: { borderColor: "#334155", timeVisible: true, secondsVisible: true },
        crosshair: { horzLine: { labelBackgroundColor: "#1e293b" }, vertLine: { labelBackgroundColor: "#1e293b" } },
        localization: { priceFormatter: (p: number) => `$${p.toFixed(2)}` },
      });
      const series = api.addSeries(AreaSeries, {
        lineColor: "#38bdf8",
        topColor: "rgba(56,189,248,0.35)",
        bottomColor: "rgba(56,189,248,0.02)",
        lineWidth: 2,
        priceFormat: { type: "price", precision: 2, minMove: 0.01 },
        // Keep the threshold line in view even while the price is far above it.
        autoscaleInfoProvider: (original: () => AutoscaleInfo | null) => {
          const info = original();
          const { thresholdCents } = latest.current;
          if (!info?.priceRange || thresholdCents === null) return info;
          const threshold = thresholdCents / 100;
          const { minValue, maxValue } = info.priceRange;
          return { ...info, priceRange: { minValue: Math.min(minValue, threshold - 1), maxValue: Math.max(maxValue, threshold + 1) } };
        },
      });
      chart.current = { api, series };
      draw(chart.current, latest.current.points, latest.current.thresholdCents, LineStyle.Dashed);
      api.timeScale().fitContent();
    });
    return () => {
      disposed = true;
      chart.current?.api.remove();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    if (chart.current) draw(chart.current, points, thresholdCents, 2);
  }, [points, thresholdCents]);

  return (
    <div className="relative h-56 w-full sm:h-72" data-testid="price-chart" data-points={points.length}>
      <div ref={container} className="absolute inset-0" aria-label="NVDA price chart" role="img" />
      {history.length === 0 && (
        <p className="absolute inset-0 flex items-center justify-center text-sm text-slate-500">Waiting for the first ticks…</p>
      )}
    </div>
  );
}

type ChartRefs = { api: IChartApi; series: ISeriesApi<"Area">; threshold?: IPriceLine };
type ChartPoint = { time: UTCTimestamp; value: number };

function draw(refs: ChartRefs, points: ChartPoint[], thresholdCents: number | null, dashed: number) {
  refs.series.setData(points);
  if (thresholdCents === null) {
    if (refs.threshold) refs.series.removePriceLine(refs.threshold);
    refs.threshold = undefined;
    return;
  }
  const price = thresholdCents / 100;
  if (refs.threshold) refs.threshold.applyOptions({ price });
  else refs.threshold = refs.series.createPriceLine({ price, color: "#f59e0b", lineWidth: 1, lineStyle: dashed, axisLabelVisible: true, title: "buy threshold" });
}

/** One point per second, ascending: the chart's time axis needs strictly increasing times. */
function toPoints(history: MarketTick[]): ChartPoint[] {
  const bySecond = new Map<number, number>();
  for (const tick of history) bySecond.set(Math.floor(Date.parse(tick.at) / 1000), tick.priceCents / 100);
  return [...bySecond.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time: time as UTCTimestamp, value }));
}
