import type { ActivityEntry, ActivityLevel } from "@/lib/types";
import { Card, Empty, formatTime } from "./ui";

const LEVEL: Record<ActivityLevel, { icon: string; className: string; label: string }> = {
  debug: { icon: "·", className: "text-slate-500", label: "debug" },
  info: { icon: "ℹ", className: "text-sky-300", label: "info" },
  success: { icon: "✔", className: "text-emerald-300", label: "success" },
  warn: { icon: "⚠", className: "text-amber-300", label: "warning" },
  error: { icon: "✖", className: "text-rose-300", label: "error" },
};

/** The agent activity log, newest first: the story of what the agent and the market did. */
export default function ActivityLog({ entries }: { entries: ActivityEntry[] }) {
  return (
    <Card title="Agent activity" testId="activity-log" action={<span className="text-xs text-slate-500">{entries.length === 1 ? "1 entry" : `${entries.length} entries`}</span>}>
      {entries.length === 0 ? (
        <Empty testId="activity-empty">Nothing has happened yet. Trigger a market crash to wake the agent.</Empty>
      ) : (
        <ol className="max-h-96 space-y-1 overflow-y-auto pr-1 text-sm" aria-live="polite">
          {entries.map((entry) => {
            const level = LEVEL[entry.level];
            return (
              <li key={entry.id} data-testid="activity-entry" data-kind={entry.kind} className="flex gap-3 rounded-lg px-2 py-1.5 hover:bg-slate-800/50">
                <time className="tabular shrink-0 pt-px text-xs text-slate-500" dateTime={entry.at}>{formatTime(entry.at)}</time>
                <span className={`w-4 shrink-0 text-center ${level.className}`} aria-label={level.label} title={level.label}>{level.icon}</span>
                <span className="min-w-0 break-words text-slate-200">{entry.message}</span>
              </li>
            );
          })}
        </ol>
      )}
    </Card>
  );
}
