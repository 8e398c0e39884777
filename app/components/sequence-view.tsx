"use client";

import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";
import useSWR from "swr";
import type { MessageTone, OrderSequence, Party, PartyView, SequenceMessage, SequenceOutcome, SequenceResponse } from "@/lib/sequence/types";
import { Card, Empty, formatTime } from "./ui";
import { fetchJson } from "./use-live-state";

/**
 * The approval flow as a sequence diagram: the five parties as lanes, each message an arrow in the
 * order the records were written, with its time and a short decoded label. An arrow is focusable
 * (Tab, or ↑/↓ from one to the next); the focused or clicked one shows its decoded fields and the
 * spec sections it follows below the diagram, and the § after each arrow opens its spec section.
 * GET /api/sequence is refetched on the event stream's agent, mail and ledger events
 * (use-live-state.ts), and every few seconds while the flow is still running. On a narrow screen
 * the diagram keeps its width and scrolls sideways, so the lanes stay readable.
 */
export const SEQUENCE_KEY = "/api/sequence";

const LATEST = "";

export default function SequenceView({ agentName }: { agentName?: string }) {
  const [orderId, setOrderId] = useState(LATEST);
  const key = orderId === LATEST ? SEQUENCE_KEY : `${SEQUENCE_KEY}?order=${encodeURIComponent(orderId)}`;
  const { data, error } = useSWR<SequenceResponse>(key, fetchJson, {
    keepPreviousData: true,
    refreshInterval: (latest) => (latest?.sequence?.outcome === "in_progress" ? 3000 : 0),
  });
  const sequence = data?.sequence ?? null;

  return (
    <Card
      title="Sequence"
      testId="sequence-view"
      action={data && data.orders.length > 0 ? <OrderSelect orders={data.orders} value={orderId} onChange={setOrderId} /> : undefined}
    >
      {error && !data ? (
        <p role="alert" className="text-sm text-rose-300" data-testid="sequence-error">
          The sequence could not be loaded: {error.message}
        </p>
      ) : !data ? (
        <p className="text-sm text-slate-500" aria-busy="true">
          Loading…
        </p>
      ) : !sequence ? (
        <Empty testId="sequence-empty">
          No approval flow yet — click <strong>Trigger Market Crash</strong>. When {agentName ?? "the agent"} wants to trade, every message between the five parties appears here as it happens.
        </Empty>
      ) : (
        <SequenceBody key={sequence.orderId} sequence={sequence} parties={data.parties} />
      )}
    </Card>
  );
}

const OUTCOME_TEXT: Record<SequenceOutcome, string> = {
  in_progress: "in progress",
  executed: "executed",
  denied: "denied",
  expired: "expired",
  failed: "failed",
  cancelled: "cancelled",
};

function OrderSelect({ orders, value, onChange }: { orders: SequenceResponse["orders"]; value: string; onChange: (id: string) => void }) {
  return (
    <label className="flex min-w-0 items-center gap-2 text-xs text-slate-400">
      <span className="shrink-0">Order</span>
      <select
        value={value}
        onChange={(e) => onChange(e.target.value)}
        data-testid="sequence-order-select"
        className="min-w-0 max-w-[14rem] truncate rounded-lg border border-slate-700 bg-slate-950 px-2 py-1 text-xs text-slate-200 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400"
      >
        <option value={LATEST}>Latest (follows new orders)</option>
        {orders.map((o) => (
          <option key={o.orderId} value={o.orderId}>
            {formatTime(o.createdAt)} · {o.title} · {OUTCOME_TEXT[o.outcome]}
          </option>
        ))}
      </select>
    </label>
  );
}

// --- the diagram ---------------------------------------------------------------------------------

/**
 * Two layouts of one diagram. Wide: a time gutter, lanes 150 units apart, each label on its arrow.
 * Compact (a container narrower than COMPACT_BELOW px, a phone): all five lanes in the width, short
 * lane names, and each row's step, time and label on a line of its own above its arrow.
 */
interface Layout {
  compact: boolean;
  width: number;
  gutter: number;
  lane: number;
  header: number;
  row: number;
  /** The arrow's y within its row. */
  arrowY: number;
}

const WIDE: Layout = { compact: false, width: 860, gutter: 72, lane: 150, header: 58, row: 46, arrowY: 30 };
const COMPACT: Layout = { compact: true, width: 360, gutter: 0, lane: 72, header: 54, row: 50, arrowY: 36 };
/** Lane names that fit a compact lane (two short lines); the agent and the investor keep their names. */
const COMPACT_NAME: Partial<Record<Party, [string, string]>> = { mcp: ["MCP", "server"], as: ["Auth", "server"], mailbox: ["Mailbox", "email"] };
const COMPACT_BELOW = 640;
const laneX = (l: Layout, i: number) => l.gutter + l.lane / 2 + i * l.lane;

/** The width of the element `ref` points at, followed as it changes. */
function useWidth<T extends Element>(): [(el: T | null) => void, number | undefined] {
  const [width, setWidth] = useState<number>();
  const observer = useRef<ResizeObserver | null>(null);
  const ref = useCallback((el: T | null) => {
    observer.current?.disconnect();
    if (!el) return;
    setWidth(el.getBoundingClientRect().width);
    observer.current = new ResizeObserver(([entry]) => setWidth(entry!.contentRect.width));
    observer.current.observe(el);
  }, []);
  return [ref, width];
}

const TONE: Record<MessageTone, { stroke: string; text: string; dash?: string }> = {
  request: { stroke: "#38bdf8", text: "#e2e8f0" },
  ok: { stroke: "#34d399", text: "#a7f3d0" },
  refused: { stroke: "#fb7185", text: "#fecdd3" },
  pending: { stroke: "#fbbf24", text: "#fde68a", dash: "5 4" },
  note: { stroke: "#94a3b8", text: "#cbd5e1" },
};

const ENDING_STYLE: Record<SequenceOutcome, string> = {
  in_progress: "border-sky-800 bg-sky-950/40 text-sky-200",
  executed: "border-emerald-800 bg-emerald-950/40 text-emerald-200",
  denied: "border-rose-800 bg-rose-950/40 text-rose-200",
  expired: "border-slate-700 bg-slate-800/60 text-slate-200",
  failed: "border-rose-800 bg-rose-950/40 text-rose-200",
  cancelled: "border-slate-700 bg-slate-800/60 text-slate-200",
};

function SequenceBody({ sequence, parties }: { sequence: OrderSequence; parties: PartyView[] }) {
  const { messages } = sequence;
  const [selected, setSelected] = useState(messages.length - 1);
  const followsLast = useRef(true);
  const arrows = useRef<Array<SVGGElement | null>>([]);
  // While the flow runs, the newest message stays selected unless the reader picked another.
  useEffect(() => {
    if (followsLast.current) setSelected(messages.length - 1);
  }, [messages.length]);

  const [measure, boxWidth] = useWidth<HTMLDivElement>();
  const layout = boxWidth !== undefined && boxWidth < COMPACT_BELOW ? COMPACT : WIDE;
  const laneOf = new Map<Party, number>(parties.map((p, i) => [p.id, i]));
  const nameOf = new Map<Party, string>(parties.map((p) => [p.id, p.name]));
  const height = layout.header + messages.length * layout.row + 24;
  const current = messages[Math.min(selected, messages.length - 1)];

  const select = (i: number) => {
    followsLast.current = i === messages.length - 1;
    setSelected(i);
  };
  const onKey = (e: KeyboardEvent<SVGGElement>, i: number) => {
    const to = e.key === "ArrowDown" ? i + 1 : e.key === "ArrowUp" ? i - 1 : e.key === "Home" ? 0 : e.key === "End" ? messages.length - 1 : undefined;
    if (to !== undefined && to >= 0 && to < messages.length) {
      e.preventDefault();
      arrows.current[to]?.focus();
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      select(i);
    }
  };

  return (
    <div data-testid="sequence-body" data-order-id={sequence.orderId} data-outcome={sequence.outcome}>
      <p className="mb-2 text-sm text-slate-300">
        <span className="font-semibold text-slate-100" data-testid="sequence-title">
          {sequence.title}
        </span>{" "}
        <code className="text-xs text-slate-500">{sequence.orderId}</code>
      </p>
      <div ref={measure} className="-mx-1 overflow-x-auto px-1 pb-1" data-testid="sequence-scroll" data-layout={layout.compact ? "compact" : "wide"}>
        <svg
          viewBox={`0 0 ${layout.width} ${height}`}
          width="100%"
          style={{ minWidth: layout.compact ? 300 : 720 }}
          role="group"
          aria-label={`Message sequence of order ${sequence.orderId}: ${messages.length} messages. Use Tab or the arrow keys to move between messages.`}
          data-testid="sequence-diagram"
          className="select-none"
        >
          <defs>
            {(Object.keys(TONE) as MessageTone[]).map((tone) => (
              <marker key={tone} id={`seq-head-${tone}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" fill={TONE[tone].stroke} />
              </marker>
            ))}
          </defs>
          {parties.map((p, i) => {
            const x = laneX(layout, i);
            const half = layout.lane / 2 - 7;
            return (
              <g key={p.id} data-testid="sequence-lane" data-party={p.id}>
                <title>{`${p.name} (${p.role})`}</title>
                <rect x={x - half} y={6} width={half * 2} height={40} rx={8} fill="#0f172a" stroke="#334155" />
                <text x={x} y={23} textAnchor="middle" fontSize={layout.compact ? 11 : 13} fontWeight={600} fill="#e2e8f0">
                  {layout.compact ? (COMPACT_NAME[p.id]?.[0] ?? p.name) : p.name}
                </text>
                <text x={x} y={38} textAnchor="middle" fontSize={layout.compact ? 9.5 : 10.5} fill="#94a3b8">
                  {layout.compact ? (COMPACT_NAME[p.id]?.[1] ?? p.role) : p.role}
                </text>
                <line x1={x} y1={46} x2={x} y2={height - 8} stroke="#334155" strokeDasharray="3 4" />
              </g>
            );
          })}
          {messages.map((m, i) => (
            <Arrow
              key={`${m.kind}-${m.step}`}
              message={m}
              layout={layout}
              y={layout.header + i * layout.row + layout.arrowY}
              fromX={laneX(layout, laneOf.get(m.from) ?? 0)}
              toX={laneX(layout, laneOf.get(m.to) ?? 0)}
              selected={i === selected}
              description={`Step ${m.step}: ${nameOf.get(m.from)} to ${nameOf.get(m.to)} at ${formatTime(m.at)}: ${m.label}`}
              onSelect={() => select(i)}
              onKey={(e) => onKey(e, i)}
              ref={(el) => {
                arrows.current[i] = el;
              }}
            />
          ))}
        </svg>
      </div>
      {sequence.ending ? (
        <p role="status" data-testid="sequence-ending" data-outcome={sequence.outcome} className={`mt-3 rounded-xl border px-3 py-2 text-sm ${ENDING_STYLE[sequence.outcome]}`}>
          {sequence.ending}
        </p>
      ) : (
        <p role="status" data-testid="sequence-ending" data-outcome="in_progress" className={`mt-3 rounded-xl border px-3 py-2 text-sm ${ENDING_STYLE.in_progress}`}>
          In progress: new messages appear as they happen.
        </p>
      )}
      {current && <MessageDetails message={current} nameOf={nameOf} />}
    </div>
  );
}

interface ArrowProps {
  layout: Layout;
  message: SequenceMessage;
  y: number;
  fromX: number;
  toX: number;
  selected: boolean;
  description: string;
  onSelect(): void;
  onKey(e: KeyboardEvent<SVGGElement>): void;
  ref: (el: SVGGElement | null) => void;
}

function Arrow({ layout: l, message: m, y, fromX, toX, selected, description, onSelect, onKey, ref }: ArrowProps) {
  const tone = TONE[m.tone];
  const self = fromX === toX;
  const labelX = l.compact ? 4 : self ? fromX + 44 : (fromX + toX) / 2;
  const labelY = l.compact ? y - 18 : y - 7;
  const spec = m.specs[0]!;
  return (
    <g data-testid="sequence-message" data-kind={m.kind} data-step={m.step} data-from={m.from} data-to={m.to}>
      <g
        ref={ref}
        tabIndex={0}
        role="button"
        aria-pressed={selected}
        aria-label={description}
        onClick={onSelect}
        onFocus={onSelect}
        onKeyDown={onKey}
        className="cursor-pointer outline-none [&:focus-visible>rect]:stroke-sky-400"
      >
        <rect
          x={l.compact ? 1 : 4}
          y={y - l.arrowY + 3}
          width={l.width - (l.compact ? 2 : 40)}
          height={l.row - 4}
          rx={6}
          fill={selected ? "rgba(56,189,248,0.08)" : "transparent"}
          stroke={selected ? "#0ea5e9" : "transparent"}
          strokeWidth={1.5}
        />
        {!l.compact && (
          <>
            <text x={10} y={y - 8} fontSize={10.5} fill="#64748b" fontFamily="ui-monospace, monospace">
              {formatTime(m.at)}
            </text>
            <text x={10} y={y + 6} fontSize={10.5} fill="#64748b">
              #{m.step}
            </text>
          </>
        )}
        {self ? (
          <path d={`M${fromX},${y - 10} h28 v16 h-26`} fill="none" stroke={tone.stroke} strokeWidth={1.75} markerEnd={`url(#seq-head-${m.tone})`} />
        ) : (
          <line x1={fromX} y1={y} x2={toX + (toX > fromX ? -3 : 3)} y2={y} stroke={tone.stroke} strokeWidth={1.75} strokeDasharray={tone.dash} markerEnd={`url(#seq-head-${m.tone})`} />
        )}
        <text
          x={labelX}
          y={labelY}
          textAnchor={self || l.compact ? "start" : "middle"}
          fontSize={l.compact ? 11 : 12}
          fill={tone.text}
          stroke="#0b1120"
          strokeWidth={4}
          paintOrder="stroke"
          strokeLinejoin="round"
          data-testid="sequence-label"
        >
          {l.compact && (
            <tspan fill="#64748b">
              #{m.step} {formatTime(m.at)}{" "}
            </tspan>
          )}
          <tspan data-testid="sequence-label-text">{m.label}</tspan>
        </text>
      </g>
      <a href={spec.href} target="_blank" rel="noreferrer" aria-label={`Spec for step ${m.step}: ${spec.label} (opens in a new tab)`} data-testid="sequence-spec-link">
        <text x={l.width - (l.compact ? 8 : 22)} y={l.compact ? labelY : y + 4} fontSize={13} fill="#7dd3fc" textAnchor="middle" className="hover:underline">
          §
        </text>
        <title>{spec.label}</title>
      </a>
    </g>
  );
}

function MessageDetails({ message: m, nameOf }: { message: SequenceMessage; nameOf: Map<Party, string> }) {
  return (
    <section aria-live="polite" aria-label="Selected message" data-testid="sequence-details" data-kind={m.kind} className="mt-3 rounded-xl border border-slate-800 bg-slate-950/60 p-3 text-sm">
      <h3 className="font-semibold text-slate-100">
        #{m.step} · {nameOf.get(m.from)} → {nameOf.get(m.to)} · <span className="font-normal text-slate-400">{formatTime(m.at)}</span>
      </h3>
      <p className="mt-0.5 text-slate-300" data-testid="sequence-details-label">
        {m.label}
      </p>
      <dl className="mt-2 grid gap-x-3 gap-y-1 text-xs sm:grid-cols-[max-content_1fr]">
        {m.fields.map((f) => (
          <div key={f.name} className="contents" data-testid="sequence-field" data-name={f.name}>
            <dt className="font-mono text-slate-500">{f.name}</dt>
            <dd className="min-w-0 break-words font-mono text-slate-200">{f.value}</dd>
          </div>
        ))}
      </dl>
      <p className="mt-2 text-xs text-slate-400">
        Follows{" "}
        {m.specs.map((s, i) => (
          <span key={s.href}>
            {i > 0 && ", "}
            <a href={s.href} target="_blank" rel="noreferrer" className="text-sky-300 underline-offset-2 hover:underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400" data-testid="sequence-details-spec">
              {s.label}
            </a>
          </span>
        ))}
      </p>
    </section>
  );
}
