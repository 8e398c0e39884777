import type { ReactNode } from "react";
import type { MarketStatus } from "@/lib/types";

/** Small presentational pieces shared by the dashboard cards. */

export function Card({ title, action, children, testId, className = "" }: { title: string; action?: ReactNode; children: ReactNode; testId?: string; className?: string }) {
  return (
    <section data-testid={testId} aria-label={title} className={`rounded-2xl border border-slate-800 bg-slate-900/60 p-4 shadow-lg shadow-black/20 sm:p-5 ${className}`}>
      <header className="mb-3 flex items-center justify-between gap-2">
        <h2 className="text-xs font-semibold uppercase tracking-wider text-slate-400">{title}</h2>
        {action}
      </header>
      {children}
    </section>
  );
}

const STATUS_STYLE: Record<MarketStatus, string> = {
  STABLE: "bg-emerald-500/15 text-emerald-300 ring-emerald-500/40",
  CRASHING: "bg-rose-500/15 text-rose-300 ring-rose-500/40 animate-pulse",
  RECOVERING: "bg-sky-500/15 text-sky-300 ring-sky-500/40",
};

export function StatusBadge({ status }: { status: MarketStatus }) {
  return (
    <span data-testid="market-status" className={`inline-flex items-center rounded-full px-2.5 py-0.5 text-xs font-bold tracking-wide ring-1 ${STATUS_STYLE[status]}`}>
      {status}
    </span>
  );
}

export function Empty({ children, testId }: { children: ReactNode; testId?: string }) {
  return (
    <p data-testid={testId} className="rounded-xl border border-dashed border-slate-700 px-4 py-6 text-center text-sm text-slate-400">
      {children}
    </p>
  );
}

export function Skeleton({ className = "" }: { className?: string }) {
  return <div className={`animate-pulse rounded-lg bg-slate-800/80 ${className}`} />;
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
