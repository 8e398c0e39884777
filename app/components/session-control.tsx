"use client";

import { useState } from "react";
import { LockIcon } from "./icons";

const chip = "inline-flex items-center gap-1.5 rounded-full px-2.5 py-1 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400";

/**
 * Who is looking: "Sign in" for a stranger (a plain link: the sign-in is a browser redirect to
 * the identity server), or the investor's name with "Sign out". Signing out ends the session on
 * the server and reloads, so nothing of hers stays on screen.
 */
export function SessionControl({ signedIn, name, signInAvailable }: { signedIn: boolean; name: string; signInAvailable: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!signedIn) {
    if (!signInAvailable) {
      return (
        <span className={`${chip} bg-slate-800 text-slate-400`} data-testid="sign-in-unavailable" title="No dashboard client is configured at the identity server">
          sign-in not configured
        </span>
      );
    }
    return (
      <a href="/auth/sign-in" className={`${chip} bg-sky-600 font-semibold text-white hover:bg-sky-500`} data-testid="sign-in-link">
        <LockIcon className="h-3.5 w-3.5" /> Sign in
      </a>
    );
  }
  async function signOut() {
    setBusy(true);
    setError(null);
    const res = await fetch("/auth/sign-out", { method: "POST" }).catch(() => null);
    if (res?.ok) {
      window.location.assign("/");
      return;
    }
    setBusy(false);
    setError("Sign-out failed; try again.");
  }
  return (
    <span className="inline-flex items-center gap-1.5" data-testid="session" data-signed-in="true">
      <span className={`${chip} bg-slate-800 text-slate-200`}>
        <span className="h-2 w-2 rounded-full bg-emerald-400" aria-hidden /> {name}
      </span>
      <button type="button" onClick={() => void signOut()} disabled={busy} className={`${chip} bg-slate-800 text-slate-300 hover:bg-slate-700 disabled:opacity-50`} data-testid="sign-out-button">
        {busy ? "Signing out…" : "Sign out"}
      </button>
      {error && (
        <span role="alert" className="text-rose-300">
          {error}
        </span>
      )}
    </span>
  );
}

/** In place of Alice's cards for a stranger: what is behind the sign-in, and the way in. */
export function SignInCard({ name, agentName, signInAvailable }: { name: string; agentName: string; signInAvailable: boolean }) {
  return (
    <section data-testid="sign-in-card" aria-labelledby="sign-in-heading" className="rounded-2xl border border-sky-900/60 bg-sky-950/20 p-5">
      <h2 id="sign-in-heading" className="flex items-center gap-2 text-base font-semibold text-slate-100">
        <LockIcon className="h-5 w-5 text-sky-400" /> {name}&apos;s side is signed in
      </h2>
      <p className="mt-2 text-sm text-slate-300">
        Her portfolio, trades, activity, {agentName}&apos;s controls and mandate, the token inspector and her mailbox are hers. The market and
        its simulator are open to anyone: crash it and {agentName} still has to ask her.
      </p>
      <p className="mt-2 text-sm text-slate-400">Signing in shows her side. It approves nothing: every trade needs its own approval, with her password again.</p>
      {signInAvailable ? (
        <a href="/auth/sign-in" data-testid="sign-in-card-link" className="mt-4 inline-flex items-center gap-2 rounded-xl bg-sky-600 px-4 py-2.5 text-sm font-semibold text-white hover:bg-sky-500 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400 focus-visible:ring-offset-2 focus-visible:ring-offset-slate-900">
          <LockIcon className="h-4 w-4" /> Sign in as {name}
        </a>
      ) : (
        <p className="mt-4 rounded-lg bg-amber-500/10 px-3 py-2 text-sm text-amber-200" data-testid="sign-in-unavailable-note">
          Sign-in is not configured for this identity server: register the dashboard as a web application there and set DASHBOARD_CLIENT_ID
          and DASHBOARD_CLIENT_SECRET (see the README).
        </p>
      )}
    </section>
  );
}
