"use client";

import StandingMandateCard from "./standing-mandate-card";
import ActivityLog from "./activity-log";
import AgentPanel from "./agent-panel";
import ApprovalCard from "./approval-card";
import AssurancePanel from "./assurance-panel";
import Controls from "./controls";
import MarketCard from "./market-card";
import PortfolioCard from "./portfolio-card";
import SequenceView from "./sequence-view";
import TokenInspector from "./token-inspector";
import TradeHistory from "./trade-history";
import { MailIcon, ShieldIcon } from "./icons";
import { SessionControl, SignInCard } from "./session-control";
import { Skeleton } from "./ui";
import { useAgent } from "./use-agent";
import { useLiveState, type StreamStatus } from "./use-live-state";

const STREAM_LABEL: Record<StreamStatus, { text: string; dot: string }> = {
  connecting: { text: "Connecting…", dot: "bg-slate-400" },
  live: { text: "Live", dot: "bg-emerald-400" },
  reconnecting: { text: "Reconnecting…", dot: "bg-amber-400 animate-pulse" },
};

export default function Dashboard() {
  const { data, error, isLoading, mutate, streamStatus } = useLiveState();
  const signedIn = data?.signedIn ?? false;
  const agent = useAgent(signedIn);
  const stream = STREAM_LABEL[streamStatus];

  return (
    <div className="mx-auto max-w-7xl px-3 py-4 sm:px-6 sm:py-6" data-testid="dashboard">
      <header className="mb-5 flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="flex items-center gap-2 text-xl font-bold tracking-tight sm:text-2xl">
            <ShieldIcon className="h-6 w-6 text-sky-400" /> Sleeping Guardian
          </h1>
          <p className="text-sm text-slate-400">
            {data ? `${data.agent.name} watches ${data.market.symbol} for ${data.investor.name}` : "An agent that cannot trade until you approve the exact order"}
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2 text-xs">
          {data && (
            <span className="rounded-full bg-slate-800 px-2.5 py-1 text-slate-300" data-testid="auth-provider">
              identity: {data.authProvider}
            </span>
          )}
          {data?.authProvider === "embedded" && (
            <a href="/inbox" target="_blank" rel="noreferrer" className="inline-flex items-center gap-1.5 rounded-full bg-slate-800 px-2.5 py-1 text-sky-300 hover:bg-slate-700 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400" data-testid="mailbox-link">
              <MailIcon /> {data.investor.name}&apos;s mailbox
            </a>
          )}
          <span className="inline-flex items-center gap-1.5 rounded-full bg-slate-800 px-2.5 py-1 text-slate-300" data-testid="stream-status" data-status={streamStatus} role="status">
            <span className={`h-2 w-2 rounded-full ${stream.dot}`} aria-hidden /> {stream.text}
          </span>
          {data && <SessionControl signedIn={signedIn} name={data.investor.name} signInAvailable={data.signInAvailable} />}
        </div>
      </header>

      <FlowStrip />
      {signedIn && <AssurancePanel investorName={data?.investor.name} />}

      {error && !data ? (
        <div role="alert" data-testid="state-error" className="rounded-2xl border border-rose-800 bg-rose-950/40 p-6 text-rose-200">
          <p className="font-semibold">The dashboard could not load its state.</p>
          <p className="mt-1 text-sm text-rose-300">{error.message}</p>
          <button type="button" onClick={() => void mutate()} className="mt-3 rounded-lg bg-rose-700 px-3 py-1.5 text-sm font-semibold hover:bg-rose-600 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-rose-400">
            Try again
          </button>
        </div>
      ) : isLoading || !data ? (
        <LoadingGrid />
      ) : !signedIn ? (
        // A stranger sees the public market and its simulator; Alice's cards wait for her sign-in.
        <div className="flex flex-col gap-4 lg:grid lg:grid-cols-3 lg:items-start">
          <div className="lg:col-span-2">
            <MarketCard market={data.market} history={data.history} thresholdCents={null} />
          </div>
          <div className="flex flex-col gap-4">
            <Controls status={data.market.status} signedIn={false} />
            <SignInCard name={data.investor.name} agentName={data.agent.name} signInAvailable={data.signInAvailable} />
          </div>
        </div>
      ) : (
        // Two columns on wide screens; on a phone the columns dissolve (`contents`) so the cards
        // can be ordered by what a person needs first: price, buttons, the pending approval.
        <div className="flex flex-col gap-4 lg:grid lg:grid-cols-3 lg:items-start">
          <div className="contents lg:col-span-2 lg:block lg:space-y-4">
            <div className="order-1">
              <MarketCard market={data.market} history={data.history} thresholdCents={data.thresholdCents} />
            </div>
            <div data-testid="approval-slot" className="order-3">
              <ApprovalCard agent={agent.data} />
            </div>
            <div data-testid="sequence-slot" className="order-4 min-w-0">
              <SequenceView agentName={data.agent.name} />
            </div>
            <div className="order-6">
              <TradeHistory trades={data.trades} userName={data.investor.name} userId={data.investor.userId} />
            </div>
            <div className="order-8">
              <ActivityLog entries={data.activity} />
            </div>
          </div>
          <div className="contents lg:block lg:space-y-4">
            <div className="order-4">
              <AgentPanel agent={agent.data} error={agent.error as Error | undefined} />
            </div>
            <div className="order-2">
              <Controls status={data.market.status} signedIn />
            </div>
            <div className="order-3">
              <StandingMandateCard symbol={data.market.symbol} />
            </div>
            <div className="order-5">
              <PortfolioCard portfolio={data.portfolio} name={data.investor.name} />
            </div>
            <div data-testid="token-inspector-slot" className="order-7">
              <TokenInspector agentToken={agent.data?.tokens.agent ?? null} oboToken={agent.data?.tokens.obo ?? null} investorName={data.investor.name} />
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

const STEPS = [
  ["Watch", "reads the price with a read-only token"],
  ["Propose", "the model proposes a buy; code checks it against the mandate"],
  ["Refused", "the broker answers 403 naming the exact order to approve"],
  ["Ask", "CIBA request: the user gets the exact order"],
  ["Approve", "on another device, by email"],
  ["Trade", "with an OBO token: sub = user, act = agent"],
] as const;

function FlowStrip() {
  return (
    <ol className="mb-5 grid grid-cols-2 gap-2 text-xs sm:grid-cols-3 lg:grid-cols-6" aria-label="How the flow works">
      {STEPS.map(([title, text], i) => (
        <li key={title} className="rounded-xl border border-slate-800 bg-slate-900/40 px-3 py-2">
          <span className="font-semibold text-slate-200">
            {i + 1}. {title}
          </span>
          <span className="block text-slate-500">{text}</span>
        </li>
      ))}
    </ol>
  );
}

function LoadingGrid() {
  return (
    <div className="grid gap-4 lg:grid-cols-3" data-testid="dashboard-loading" aria-busy="true">
      <div className="space-y-4 lg:col-span-2">
        <Skeleton className="h-96" />
        <Skeleton className="h-32" />
      </div>
      <div className="space-y-4">
        <Skeleton className="h-48" />
        <Skeleton className="h-64" />
      </div>
    </div>
  );
}
