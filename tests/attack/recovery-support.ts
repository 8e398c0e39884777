import http from "node:http";
import { expect } from "vitest";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { listenOnLoopback, startApp, type AppServer } from "../helpers/app-server";

/**
 * The kill -9 attacks on recovery, against the real built app over HTTP. The agent's own traffic
 * to /mcp and /oidc goes through a loopback proxy (AGENT_INTERNAL_URL), which lets the test stop
 * the world at an exact point of the trade, with no timing luck:
 *
 * - "after-trade": the agent's buy_stock call with the on-behalf-of token reaches /mcp and the
 *   broker answers (the trade has committed and its `mcp.trade` activity line is written), but
 *   the answer is held back from the agent; the server is SIGKILLed while the agent waits.
 * - "before-trade": the same call is held before it reaches /mcp; the server is SIGKILLed while
 *   the agent is EXECUTING with Alice's approval and no trade exists.
 *
 * Ticks and the cooldown are short, and the market is held still below the threshold, so the
 * restarted agent lives through several cooldowns within the same fall.
 */
export const COOLDOWN_SECONDS = 2;
const PASSWORD = "alice-test-password-1";

export type Hold = "off" | "after-trade" | "before-trade";

export interface TradeInterceptor {
  url: string;
  target: string | undefined;
  hold: Hold;
  /** Resolves when the OBO buy_stock call was held: with the broker's answer for "after-trade". */
  held: Promise<string>;
  close(): Promise<void>;
}

/** The JWT's payload, decoded without verification (only to tell the OBO token from the agent's). */
function claimsOf(authorization: string | undefined): Record<string, unknown> {
  const token = authorization?.split(" ")[1] ?? "";
  try {
    return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function isOboTrade(req: http.IncomingMessage, body: Buffer): boolean {
  if (req.method !== "POST" || !req.url?.startsWith("/mcp")) return false;
  let message: { method?: string; params?: { name?: string } };
  try {
    message = JSON.parse(body.toString("utf8")) as typeof message;
  } catch {
    return false;
  }
  return message.method === "tools/call" && message.params?.name === "buy_stock" && claimsOf(req.headers.authorization).act !== undefined;
}

export async function startTradeInterceptor(): Promise<TradeInterceptor> {
  let onHeld!: (answer: string) => void;
  const state = { target: undefined as string | undefined, hold: "off" as Hold, held: new Promise<string>((r) => (onHeld = r)) };
  const held = new Set<http.ServerResponse>();

  const forward = (req: http.IncomingMessage, body: Buffer, answer: (upstream: http.IncomingMessage) => void, fail: () => void) => {
    const target = new URL(req.url ?? "/", state.target);
    const upstream = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, answer);
    upstream.on("error", fail);
    upstream.end(body);
  };

  const server = http.createServer((req, res) => {
    if (!state.target) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const hold = state.hold !== "off" && isOboTrade(req, body) ? state.hold : "off";
      if (hold === "before-trade") {
        held.add(res); // never forwarded, never answered
        onHeld("");
        return;
      }
      forward(
        req,
        body,
        (upstream) => {
          if (hold === "off") {
            res.writeHead(upstream.statusCode ?? 502, upstream.headers);
            upstream.pipe(res);
            return;
          }
          // after-trade: read the broker's answer, keep it from the agent.
          held.add(res);
          let text = "";
          upstream.on("data", (c: Buffer) => {
            text += c.toString("utf8");
            if (/"(result|error)"\s*:/.test(text)) onHeld(text);
          });
        },
        () => res.destroy(),
      );
    });
  });
  const listening = await listenOnLoopback(server);
  // The interceptor is its state: what the test sets is what the next request sees.
  return Object.assign(state, {
    url: listening.url,
    close: () => {
      for (const res of held) res.destroy();
      return listening.close();
    },
  });
}

export interface RecoveryRig {
  app: AppServer;
  proxy: TradeInterceptor;
  alice: Alice;
  close(): Promise<void>;
}

export async function startRecoveryRig(): Promise<RecoveryRig> {
  const proxy = await startTradeInterceptor();
  const app = await startApp({
    // A threshold just under the opening price: a crash crosses it within a few ticks.
    PRICE_THRESHOLD: "148.00",
    MARKET_TICK_MS: "250",
    AGENT_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS),
    CIBA_INTERVAL_SECONDS: "1",
    INVESTOR_PASSWORD: PASSWORD,
    AGENT_INTERNAL_URL: proxy.url,
  });
  proxy.target = app.url;
  return {
    app,
    proxy,
    alice: new Alice(app.url, "alice@example.com", PASSWORD),
    close: async () => {
      await app.stop();
      await proxy.close();
    },
  };
}

/**
 * Crash the market, let the agent ask, hold the market still below the threshold, approve from
 * the mailbox as Alice would, and wait until the interceptor holds the OBO trade.
 */
export async function approveUntilHeld(rig: RecoveryRig, hold: Exclude<Hold, "off">) {
  const { app, proxy, alice } = rig;
  proxy.hold = hold;
  expect((await press(app.url, "/api/market/crash")).status).toBe(200);
  const mail = await alice.waitForApprovalMail([], 30_000);
  const asked = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL" && a.approval?.status === "pending", 10_000, "AWAITING_APPROVAL");
  // Still: the price stays where it is, below the threshold and within the order's limit.
  expect((await press(app.url, "/api/market/stabilize")).status).toBe(200);
  const page = await alice.decide(mail.approve, "approve");
  expect(page).toContain('data-status="approved"');
  const answer = await proxy.held;
  return { mail, order: asked.order!, answer };
}

/** Restart on the same data, the interceptor passing everything, and wait for the agent. */
export async function restart(rig: RecoveryRig) {
  rig.proxy.hold = "off";
  await rig.app.start();
  return waitUntil(() => agentOf(rig.app.url), (a) => a.running && a.state !== "EXECUTING", 20_000, "the agent running after the restart");
}

/** The agent's view and the dashboard once several cooldowns have passed with the price still low. */
export async function afterCooldowns(rig: RecoveryRig) {
  const since = Date.now();
  const agent = await waitUntil(() => agentOf(rig.app.url), (a) => a.lastPrice !== null && Date.parse(a.lastPrice.at) > since + 3 * COOLDOWN_SECONDS * 1000, 20_000, "three cooldowns of ticks");
  const state = await dashboardOf(rig.app.url);
  expect(state.market.priceCents).toBeLessThan(state.thresholdCents!);
  return { agent, state, mails: await rig.alice.inbox() };
}
