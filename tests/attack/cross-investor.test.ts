import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentView } from "@/lib/agent/view";
import type { DashboardState } from "@/lib/demo";
import { waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser } from "../helpers/browser";
import { investorCookie, investorPasswordFor, signInOverHttp, TEST_INVESTOR_EMAIL } from "../helpers/investor-session";

/**
 * Two investors on one app: Alice (the embedded default) and Bob (INVESTORS). Bob, signed in as
 * himself, attacks everything of Alice's the dashboard serves: her portfolio, trades, activity,
 * agent, mandate, approvals, mailbox and message sequence, by reading and by writing, and her
 * approval request on the identity server's page. Every route scopes by the signed-in `sub`, so
 * he gets his own data or a refusal, and nothing of hers changes. Both agents run (one per
 * investor) and each asks only its own investor. Real HTTP against the built app and its
 * embedded identity server.
 */
const BOB = { email: "bob@example.com", password: "bob-test-password-1" };
let app: AppServer;
const cookies = { alice: "", bob: "" };

const as = (who: keyof typeof cookies, path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  headers.set("cookie", cookies[who]);
  if ((init.method ?? "GET") !== "GET") {
    headers.set("origin", app.url);
    headers.set("content-type", "application/json");
  }
  return fetch(`${app.url}${path}`, { ...init, headers });
};
const json = async <T>(res: Response | Promise<Response>): Promise<T> => {
  const r = await res;
  if (!r.ok) throw new Error(`${r.url} answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
  return (await r.json()) as T;
};
const agentOf = (who: keyof typeof cookies) => json<AgentView>(as(who, "/api/agent"));
const stateOf = (who: keyof typeof cookies) => json<DashboardState>(as(who, "/api/state"));
const inboxOf = (who: keyof typeof cookies) => json<{ messages: Array<{ id: string; to: string }> }>(as(who, "/api/inbox"));
const pending = (a: AgentView) => a.state === "AWAITING_APPROVAL" && a.approval?.status === "pending" && a.order !== null;

let aliceOrder: string;
let aliceMail: { id: string; approve: string };
let bobMail: { id: string; approve: string };

/** What of Alice's no request of Bob's may change. */
/** Alice's activity entries: her agent adds more while it waits, so none may be missing later. */
const aliceEntries = async () => (await stateOf("alice")).activity.filter((e) => e.userSub === "alice").map((e) => e.id);

async function aliceSnapshot() {
  const [agent, state, inbox] = await Promise.all([agentOf("alice"), stateOf("alice"), inboxOf("alice")]);
  return {
    paused: agent.paused,
    mandate: agent.mandate,
    state: agent.state,
    order: agent.order?.orderId,
    approval: agent.approval?.status,
    revocation: agent.revocation,
    portfolio: { cash: state.portfolio?.cashCents, holdings: state.portfolio?.holdings },
    trades: state.trades,
    mail: inbox.messages.map((m) => m.id),
  };
}

beforeAll(async () => {
  app = await startApp({ INVESTORS: `bob:Bob:${BOB.email}:${BOB.password}`, AGENT_COOLDOWN_SECONDS: "600" });
  cookies.alice = await investorCookie(app.url);
  cookies.bob = (await signInOverHttp(app.url, { username: BOB.email, password: BOB.password })).cookie;
  for (const who of ["alice", "bob"] as const) await waitUntil(() => agentOf(who), (a) => a.tokens.agent !== null, 60_000, `${who}'s agent's first token`);
  expect((await fetch(`${app.url}/api/market/crash`, { method: "POST", headers: { origin: app.url } })).status).toBe(200);
  const [alice, bob] = await Promise.all([
    waitUntil(() => agentOf("alice"), pending, 90_000, "Alice's agent asking her"),
    waitUntil(() => agentOf("bob"), pending, 90_000, "Bob's agent asking him"),
  ]);
  aliceOrder = alice.order!.orderId;
  expect(bob.order!.orderId).not.toBe(aliceOrder);
  aliceMail = await new Alice(app.url, TEST_INVESTOR_EMAIL, investorPasswordFor(app.url)).waitForApprovalMail();
  const bobInbox = await waitUntil(() => inboxOf("bob"), (i) => i.messages.length > 0, 30_000, "Bob's approval mail");
  const bobFull = await json<{ id: string; links: Record<string, string> }>(as("bob", `/api/inbox/${bobInbox.messages[0]!.id}`));
  bobMail = { id: bobFull.id, approve: bobFull.links.approve! };
}, 240_000);
afterAll(async () => app?.stop());

describe("each investor's agent", () => {
  it("asks its own investor once: one order and one approval mail each, addressed to her", async () => {
    const [alice, bob] = await Promise.all([agentOf("alice"), agentOf("bob")]);
    expect(alice.investor.userId).toBe("alice");
    expect(bob.investor.userId).toBe("bob");
    const [aliceInbox, bobInbox] = await Promise.all([inboxOf("alice"), inboxOf("bob")]);
    expect(aliceInbox.messages.map((m) => m.to)).toEqual([TEST_INVESTOR_EMAIL]);
    expect(bobInbox.messages.map((m) => m.to)).toEqual([BOB.email]);
  });
});

describe("Bob signed in reads only his own", () => {
  it("state: his portfolio and activity, none of Alice's entries or orders", async () => {
    const state = await stateOf("bob");
    expect(state.investor.userId).toBe("bob");
    expect(state.portfolio?.userSub).toBe("bob");
    expect(state.trades).toEqual([]);
    expect(state.activity.length).toBeGreaterThan(0);
    for (const entry of state.activity) {
      expect([undefined, "bob"], entry.message).toContain(entry.userSub);
      expect(entry.message).not.toContain(aliceOrder);
    }
    // Alice's own view has her entries (the filter is not empty for everyone).
    expect((await stateOf("alice")).activity.some((e) => e.userSub === "alice" && e.message.includes(aliceOrder))).toBe(true);
  });

  it("agent, mailbox and sequence: his own; Alice's mail and order are not found", async () => {
    const agent = await agentOf("bob");
    expect(agent.order?.orderId).not.toBe(aliceOrder);
    const inbox = await inboxOf("bob");
    expect(inbox.messages.map((m) => m.id)).not.toContain(aliceMail.id);
    const mail = await as("bob", `/api/inbox/${aliceMail.id}`);
    expect(mail.status).toBe(404);
    expect(((await mail.json()) as { error: string }).error).toBe("not_found");
    expect((await as("bob", `/inbox/${aliceMail.id}`)).status).toBe(404);
    const sequence = await as("bob", `/api/sequence?order=${aliceOrder}`);
    expect(sequence.status).toBe(404);
    expect((await as("alice", `/api/sequence?order=${aliceOrder}`)).status).toBe(200);
    expect(await json(as("bob", "/api/standing-mandate"))).toMatchObject({ mandate: null });
  });

  it("the live stream carries none of Alice's events", async () => {
    const controller = new AbortController();
    const res = await as("bob", "/api/events", { signal: controller.signal });
    const reader = res.body!.getReader();
    const text: string[] = [];
    // Alice's agent acts meanwhile (its ticks, her dashboard's events); a pause of hers is one for sure.
    let paused = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text.push(new TextDecoder().decode(value));
      if (!paused && text.join("").includes("event: tick")) {
        paused = true;
        await json(as("alice", "/api/agent/pause", { method: "POST", body: "{}" }));
        await json(as("alice", "/api/agent/resume", { method: "POST", body: "{}" }));
      }
      if (text.join("").split("event: tick").length > 4) break;
    }
    controller.abort();
    expect(paused).toBe(true);
    const events = text.join("").split("\n\n").filter((e) => e.startsWith("event: activity") || e.startsWith("event: agent") || e.startsWith("event: mail") || e.startsWith("event: ledger"));
    for (const event of events) expect(event).not.toMatch(/"userSub":"alice"/);
  });
});

describe("Bob's writes touch only his own", () => {
  it("pause, mandate, reset and resume change his agent and ledger, not Alice's; the kill switch is refused", async () => {
    const before = await aliceSnapshot();
    const entries = await aliceEntries();
    expect(before.approval).toBe("pending");
    expect(entries.length).toBeGreaterThan(0);

    const paused = await json<AgentView>(as("bob", "/api/agent/pause", { method: "POST", body: "{}" }));
    expect(paused).toMatchObject({ paused: true, investor: { userId: "bob" }, holdsKillSwitch: false });
    expect((await agentOf("alice")).holdsKillSwitch).toBe(true);
    const mandate = await json<AgentView>(as("bob", "/api/agent/mandate", { method: "POST", body: JSON.stringify({ threshold: "1.00", budget: "10.00" }) }));
    expect(mandate.mandate).toMatchObject({ thresholdCents: 100, budgetCents: 1000 });
    const revoke = await as("bob", "/api/agent/revoke", { method: "POST", body: "{}" });
    expect(revoke.status).toBe(403);
    expect(((await revoke.json()) as { error: string }).error).toBe("forbidden");
    expect((await as("bob", "/api/agent/reenable", { method: "POST", body: "{}" })).status).toBe(403);
    expect((await as("bob", "/api/market/reset", { method: "POST", body: "{}" })).status).toBe(200);
    // His open order is cancelled and the agent watches again; Alice's stays as it was (below).
    expect(await agentOf("bob")).toMatchObject({ state: "MONITORING", order: null });
    await json(as("bob", "/api/agent/resume", { method: "POST", body: "{}" }));

    expect(await aliceSnapshot()).toEqual(before);
    expect(await aliceEntries()).toEqual(expect.arrayContaining(entries));
  });
});

describe("Bob on the identity server", () => {
  it("cannot sign in on Alice's approval page: her request stays pending; his own approval trades for him only", async () => {
    const bob = new Alice(app.url, BOB.email, BOB.password);
    await expect(bob.open(aliceMail.approve)).rejects.toThrow(/answered 401/);
    // Alice's own password is refused for Bob's account, too.
    await expect(new Alice(app.url, TEST_INVESTOR_EMAIL, BOB.password).open(aliceMail.approve)).rejects.toThrow(/answered 401/);
    expect((await agentOf("alice")).approval?.status).toBe("pending");
    const before = await aliceSnapshot();

    // Bob's own request was cancelled by his reset; with his mandate back, a new crash makes his agent ask again.
    await json(as("bob", "/api/agent/mandate", { method: "POST", body: JSON.stringify({ threshold: "140.00", budget: "5000.00" }) }));
    const seen = (await inboxOf("bob")).messages.map((m) => m.id);
    expect(seen).toEqual([bobMail.id]);
    const market = await fetch(`${app.url}/api/market/crash`, { method: "POST", headers: { origin: app.url } });
    expect(market.status).toBe(200);
    const asked = await waitUntil(() => agentOf("bob"), pending, 90_000, "Bob's agent asking him again");
    const fresh = await waitUntil(() => inboxOf("bob"), (i) => i.messages.some((m) => !seen.includes(m.id)), 30_000, "Bob's second mail");
    const mail = await json<{ links: Record<string, string> }>(as("bob", `/api/inbox/${fresh.messages.find((m) => !seen.includes(m.id))!.id}`));
    await new Alice(app.url, BOB.email, BOB.password).decide(mail.links.approve!, "approve");
    const done = await waitUntil(() => agentOf("bob"), (a) => a.state === "DONE", 60_000, "Bob's trade");
    expect(done.order?.orderId).toBe(asked.order!.orderId);
    const bobState = await stateOf("bob");
    expect(bobState.trades).toHaveLength(1);
    expect(bobState.trades[0]).toMatchObject({ userSub: "bob" });
    expect(await aliceSnapshot()).toEqual(before);
    expect((await stateOf("alice")).trades).toEqual([]);
  }, 240_000);
});

describe("Bob's dashboard in Chromium", () => {
  it("signs him in by his own name and shows his agent, portfolio and mailbox, not Alice's", async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${app.url}/auth/sign-in`);
      await page.getByTestId("login-form").waitFor();
      // Several investors: the login page names nobody in advance.
      expect(await page.getByTestId("sign-in-username").inputValue()).toBe("");
      await page.getByTestId("sign-in-username").fill(BOB.email);
      await page.getByTestId("sign-in-password").fill(BOB.password);
      await Promise.all([page.waitForURL(`${app.url}/`), page.getByTestId("sign-in-submit").click()]);
      await page.getByText("watches NVDA for Bob").waitFor();
      // The mailbox link in the header (the sequence diagram names "Bob's mailbox" too).
      await page.getByTestId("mailbox-link").filter({ hasText: "Bob's mailbox" }).waitFor();
      const text = await page.locator("body").innerText();
      expect(text).not.toContain(aliceOrder);
      expect(text).not.toContain("Alice");
      // The kill switch is not his: no Revoke button, and the panel says why.
      await page.getByTestId("kill-switch-not-yours").waitFor();
      expect(await page.getByTestId("agent-revoke").count()).toBe(0);
      await page.screenshot({ path: artifact("dashboard-bob.png"), fullPage: true });
      await page.goto(`${app.url}/inbox`);
      const inbox = await page.locator("body").innerText();
      expect(inbox).toContain(BOB.email);
      expect(inbox).not.toContain(TEST_INVESTOR_EMAIL);
      await page.screenshot({ path: artifact("inbox-bob.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
