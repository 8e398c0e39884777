import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatMoney } from "@/lib/money";
import { openDb } from "@/lib/store/db";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { listenOnLoopback, startApp, type AppServer } from "../helpers/app-server";
import { asInvestor } from "../helpers/investor-session";

/**
 * A granted standing mandate across kill -9 and restarts, against the built app over real HTTP.
 * The agent's traffic to /oidc and /mcp goes through a loopback proxy (AGENT_INTERNAL_URL) that
 * sees every refresh_token grant: which refresh token the agent presents and which one the
 * server rotates to, and that can hold the server's answer back from the agent so the test kills
 * the app at the worst moment, after the server rotated the token and before the agent stored it.
 *
 * Guarantees: the store never holds the grant's refresh token in clear, in any table, the
 * embedded identity server's included (it keys its rows by the token's hash); after kill -9
 * the agent draws with the newest token and trades under the mandate without an approval mail;
 * killed mid-rotation it never presents the spent token, lets the mandate go and says so; a
 * revoked mandate and the kill switch leave nothing to draw from after a restart.
 */
const PASSWORD = "alice-test-password-mandate-restart";
const AGENT_SECRET = "mandate-restart-agent-secret-0123456789";
let app: AppServer;
let proxy: RefreshWatch;
let alice: Alice;
let budgetCents: number;
const seen: string[] = [];

interface Refresh {
  presented: string;
  issued?: string;
}

interface RefreshWatch {
  url: string;
  target?: string;
  /** Hold the next refresh answer from the agent (the server has rotated the token). */
  holdNext: boolean;
  refreshes: Refresh[];
  /** Every refresh token the token endpoint issued (CIBA redemptions and refreshes), in order. */
  issued: string[];
  held: Promise<Refresh>;
  close(): Promise<void>;
}

async function startRefreshWatch(): Promise<RefreshWatch> {
  let onHeld!: (r: Refresh) => void;
  const held = new Set<http.ServerResponse>();
  const watch = { target: undefined as string | undefined, holdNext: false, refreshes: [] as Refresh[], issued: [] as string[], held: new Promise<Refresh>((r) => (onHeld = r)) };
  const server = http.createServer((req, res) => {
    if (!watch.target) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const form = req.method === "POST" && req.url?.startsWith("/oidc/token") ? new URLSearchParams(body.toString("utf8")) : undefined;
      const refresh: Refresh | undefined = form?.get("grant_type") === "refresh_token" ? { presented: form.get("refresh_token") ?? "" } : undefined;
      if (refresh) watch.refreshes.push(refresh);
      const hold = refresh !== undefined && watch.holdNext;
      if (hold) watch.holdNext = false;
      const target = new URL(req.url ?? "/", watch.target);
      const upstream = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
        if (!form) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const parts: Buffer[] = [];
        answer.on("data", (c: Buffer) => parts.push(c));
        answer.on("end", () => {
          const text = Buffer.concat(parts).toString("utf8");
          const issued = (JSON.parse(text) as { refresh_token?: string }).refresh_token;
          if (issued) watch.issued.push(issued);
          if (refresh) refresh.issued = issued;
          if (hold) {
            held.add(res); // the agent never hears of the rotated token
            onHeld(refresh);
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(text);
        });
      });
      upstream.on("error", () => res.destroy());
      upstream.end(body);
    });
  });
  const listening = await listenOnLoopback(server);
  return Object.assign(watch, {
    url: listening.url,
    close: () => {
      for (const res of held) res.destroy();
      return listening.close();
    },
  });
}

type View = { mandate: null | { mandate_id: string; status: string } };
const mandateView = async (): Promise<View> => (await (await asInvestor(app.url, "/api/standing-mandate")).json()) as View;

/** Alice grants a mandate that fits one order a trade and ten a day, and approves it from the mailbox. */
async function grantMandate(): Promise<string> {
  const res = await asInvestor(app.url, "/api/standing-mandate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ symbol: "NVDA", max_per_trade: formatMoney(budgetCents), max_per_day: formatMoney(budgetCents * 10), expires_at: new Date(Date.now() + 86_400_000).toISOString() }),
  });
  expect(res.status).toBe(202);
  const mail = await alice.waitForApprovalMail(seen, 20_000);
  seen.push(mail.id);
  expect(await alice.decide(mail.approve, "approve")).toContain('data-status="approved"');
  return (await waitUntil(mandateView, (v) => v.mandate?.status === "granted", 20_000, "mandate granted")).mandate!.mandate_id;
}

/** A fresh fall: the ledger reset, the agent watching again, then a crash. */
async function crashAgain(): Promise<void> {
  expect((await press(app.url, "/api/market/reset")).status).toBe(200);
  await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null && a.armed, 20_000, "MONITORING after reset");
  expect((await press(app.url, "/api/market/crash")).status).toBe(200);
}

async function restartApp(): Promise<void> {
  await app.start();
  await waitUntil(() => agentOf(app.url), (a) => a.running && a.tokens.agent !== null, 30_000, "the agent running after the restart");
}

/** Every row of every table as text, the embedded identity server's idp_* tables included. */
async function appTablesText(): Promise<string> {
  const db = await openDb({ dataDir: app.dataDir });
  try {
    const tables = (await db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).map((t) => t.tablename);
    const texts = await Promise.all(tables.map(async (t) => JSON.stringify(await db.query(`SELECT * FROM "${t}"`))));
    return texts.join("\n");
  } finally {
    await db.close();
  }
}

async function grantRows(): Promise<number> {
  const db = await openDb({ dataDir: app.dataDir });
  try {
    return (await db.query("SELECT mandate_id FROM mandate_grants")).length;
  } finally {
    await db.close();
  }
}

/** The refresh_token grant at the embedded server with the agent's client credentials: what a thief of both would try. */
async function presentRefreshToken(refreshToken: string): Promise<{ status: number; error?: string; rotated?: string }> {
  const res = await fetch(`${app.url}/oidc/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`aurelius-agent:${AGENT_SECRET}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, resource: `${app.url}/mcp` }),
  });
  const body = (await res.json()) as { error?: string; refresh_token?: string };
  return { status: res.status, error: body.error, rotated: body.refresh_token };
}

const newMails = async () => (await alice.inbox()).filter((m) => !seen.includes(m.id));

beforeAll(async () => {
  proxy = await startRefreshWatch();
  app = await startApp({
    PRICE_THRESHOLD: "148.00",
    MARKET_TICK_MS: "250",
    AGENT_COOLDOWN_SECONDS: "2",
    CIBA_INTERVAL_SECONDS: "1",
    INVESTOR_PASSWORD: PASSWORD,
    AGENT_CLIENT_SECRET: AGENT_SECRET,
    AGENT_INTERNAL_URL: proxy.url,
  });
  proxy.target = app.url;
  alice = new Alice(app.url, "alice@example.com", PASSWORD);
  budgetCents = (await waitUntil(() => agentOf(app.url), (a) => a.tokens.agent !== null, 30_000, "agent token")).mandate.budgetCents;
});
afterAll(async () => {
  await app?.stop();
  await proxy?.close();
});

describe("a standing mandate across kill -9", () => {
  it("after a rotation and kill -9, the restarted agent draws with the newest token and trades without an approval mail; no row holds a token in clear", async () => {
    await grantMandate();
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 60_000, "a trade under the mandate");
    expect((await dashboardOf(app.url)).trades).toEqual([expect.objectContaining({ bindingRule: "mandate" })]);
    expect(proxy.refreshes).toHaveLength(1);
    const [first] = proxy.refreshes;
    // The server rotates the mandate's refresh token on every use.
    expect(first!.issued).toEqual(expect.any(String));
    expect(first!.issued).not.toBe(first!.presented);

    await app.kill();
    const stored = await appTablesText();
    expect(stored).toContain("mdt_");
    expect(stored).not.toContain(first!.presented);
    expect(stored).not.toContain(first!.issued);

    await restartApp();
    expect((await dashboardOf(app.url)).activity.some((e) => e.kind === "agent.mandate" && e.message.includes("held again after the start"))).toBe(true);
    await crashAgain();
    await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 60_000, "a trade under the mandate after the restart");
    expect((await dashboardOf(app.url)).trades).toEqual([expect.objectContaining({ bindingRule: "mandate" })]);
    expect(await newMails()).toEqual([]);
    expect(proxy.refreshes).toHaveLength(2);
    expect(proxy.refreshes[1]!.presented).toBe(first!.issued);
  }, 240_000);

  it("killed after the server rotated the token and before the agent stored it: the spent token is never presented, the mandate is let go with an activity line, its grant is withdrawn at the server, and the next order asks for approval", async () => {
    const before = proxy.refreshes.length;
    proxy.holdNext = true;
    await crashAgain();
    const held = await proxy.held;
    expect(held.issued).toEqual(expect.any(String));
    await app.kill();

    await restartApp();
    const state = await dashboardOf(app.url);
    expect(state.activity.some((e) => e.kind === "agent.mandate" && /let go: the app stopped while a token was being drawn/.test(e.message))).toBe(true);
    expect((await mandateView()).mandate).toBeNull();
    expect(state.trades).toEqual([]);
    // The token the server rotated to, which the agent never stored, is dead too: the grant was
    // withdrawn at the server when the agent let the mandate go.
    expect(await presentRefreshToken(held.issued!)).toMatchObject({ status: 400, error: "invalid_grant" });

    await crashAgain();
    const mail = await alice.waitForApprovalMail(seen, 60_000);
    seen.push(mail.id);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL", 20_000, "AWAITING_APPROVAL");
    expect((await dashboardOf(app.url)).trades).toEqual([]);
    // Neither the spent token nor any other was presented after the restart.
    expect(proxy.refreshes).toHaveLength(before + 1);
    expect(await alice.decide(mail.approve, "deny")).toContain('data-status="denied"');
    await waitUntil(() => agentOf(app.url), (a) => a.state !== "AWAITING_APPROVAL", 20_000, "the denial polled");
  }, 240_000);

  it("a mandate Alice revoked: its refresh token is refused at the server from then on, and after a restart nothing is drawn and the next order asks for approval", async () => {
    const id = await grantMandate();
    // The grant's refresh token works at the server until the mandate is revoked (a thief with the
    // agent's client credentials would draw from it; this draw spends the agent's copy)...
    const drawn = await presentRefreshToken(proxy.issued.at(-1)!);
    expect(drawn).toMatchObject({ status: 200, rotated: expect.any(String) });
    const revoked = await asInvestor(app.url, "/api/standing-mandate", { method: "DELETE", headers: { "content-type": "application/json" }, body: JSON.stringify({ mandate_id: id }) });
    expect(revoked.status).toBe(200);
    // ...and not after: revoking withdrew the grant at the server.
    expect(await presentRefreshToken(drawn.rotated!)).toMatchObject({ status: 400, error: "invalid_grant" });
    await app.stop();
    expect(await grantRows()).toBe(0);
    const before = proxy.refreshes.length;

    await restartApp();
    await crashAgain();
    const mail = await alice.waitForApprovalMail(seen, 60_000);
    seen.push(mail.id);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL", 20_000, "AWAITING_APPROVAL");
    expect((await dashboardOf(app.url)).trades).toEqual([]);
    expect(proxy.refreshes).toHaveLength(before);
    expect(await alice.decide(mail.approve, "deny")).toContain('data-status="denied"');
    await waitUntil(() => agentOf(app.url), (a) => a.state !== "AWAITING_APPROVAL", 20_000, "the denial polled");
  }, 240_000);

  it("the kill switch deletes the sealed grant: after a restart there is nothing to draw from", async () => {
    await grantMandate();
    await app.stop();
    expect(await grantRows()).toBe(1);
    await restartApp();
    expect((await press(app.url, "/api/agent/revoke")).status).toBe(200);
    await app.stop();
    expect(await grantRows()).toBe(0);
  }, 120_000);
});
