import { createEmbeddedProfile } from "../../lib/auth/profiles/embedded";
import type { IdentityServerProfile, TokenResult } from "../../lib/auth/profiles/types";
import type { FetchLike } from "../../lib/auth/app-fetch";
import { parseConfig, type AppConfig } from "../../lib/config";
import { startEmbeddedIdp, type EmbeddedIdp } from "../../lib/idp";
import { getMail, listMail, type Mail } from "../../lib/idp/mailbox";
import { getPortfolio } from "../../lib/ledger/portfolio";
import { listTrades } from "../../lib/ledger/trades";
import { deriveBindingMessage } from "../../lib/orders/binding-message";
import type { StockTradeDetail } from "../../lib/orders/order";
import type { Db } from "../../lib/store/db";
import { createMcpEndpoint, type McpEndpoint } from "../../mcp/endpoint";
import { onFreePort } from "./app-server";
import { inProcessFetch, startMcpDeps } from "./mcp-in-process";
import { ApprovalPageUser, newOrderId } from "../integration/idp-support";

/**
 * The real embedded authorization server (oidc-provider, its store adapter, the approval page)
 * and the real /mcp endpoint in this process, on one in-memory database: tokens are minted by
 * the server the app ships, checked by the endpoint the app serves, and the ledger can be read
 * directly. The server listens on a loopback port that is also the public origin, so its issuer,
 * its JWKS and the approval links all resolve; /mcp is called in-process (`mcpFetch`).
 */
export const PASSWORD = "alice-in-process-password-1";
const AGENT_SECRET = "agent-secret-for-in-process-tests-0123";

export interface EmbeddedWorld {
  config: AppConfig;
  /** The one in-memory store of the server, the endpoint and the ledger. */
  db: Db;
  idp: EmbeddedIdp;
  endpoint: McpEndpoint;
  /** /mcp served in-process, the way the route serves it: gate, then handle. */
  mcpFetch: FetchLike;
  /** The agent's client for the embedded server (its own DPoP key), through `fetch` when given. */
  profile(fetch?: FetchLike): IdentityServerProfile;
  /** A valid order for Alice: a limit far above the market, a few shares. */
  order(): StockTradeDetail;
  /** Asks Alice for `order` with `agentToken` as the actor and lets her approve it on the approval page. */
  approve(profile: IdentityServerProfile, order: StockTradeDetail, agentToken: string): Promise<string>;
  /** Polls an approved CIBA request at the server's interval until the on-behalf-of token comes. */
  pollApproved(profile: IdentityServerProfile, authReqId: string): Promise<TokenResult>;
  /** The embedded mailbox's copy of the mail about this order (waits briefly for it). */
  mailFor(orderId: string): Promise<Mail>;
  /** What a trade would change: trades, Alice's cash and holdings. */
  ledger(): Promise<{ trades: number; cash: number | undefined; holdings: unknown }>;
  stop(): Promise<void>;
}

/** `env` adds to the world's environment, e.g. SMTP_URL for real mail beside the mailbox. */
export async function startEmbeddedWorld(env: Record<string, string> = {}): Promise<EmbeddedWorld> {
  const { config, broker, idp } = await onFreePort(async (port) => {
    const config = parseConfig({
      NODE_ENV: "test",
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: "memory://",
      EMBEDDED_IDP_PORT: String(port),
      AGENT_CLIENT_SECRET: AGENT_SECRET,
      INVESTOR_PASSWORD: PASSWORD,
      ...env,
    });
    const broker = await startMcpDeps(config);
    try {
      return { config, broker, idp: await startEmbeddedIdp({ config, db: broker.db }) };
    } catch (error) {
      await broker.stop();
      throw error;
    }
  });
  const endpoint = createMcpEndpoint(broker);
  const mcpFetch = inProcessFetch(endpoint);
  const profile = (fetch: FetchLike = globalThis.fetch) =>
    createEmbeddedProfile({
      issuer: config.auth.issuer,
      clientId: config.auth.agentClientId,
      clientSecret: AGENT_SECRET,
      resource: config.mcp.resourceUrl,
      loginHint: config.investor.email,
      fetch,
      allowHttp: true,
    });

  return {
    config,
    db: broker.db,
    idp,
    endpoint,
    mcpFetch,
    profile,
    order: () => ({
      type: "stock_trade",
      order_id: newOrderId(),
      symbol: config.market.symbol,
      side: "buy",
      quantity: 2,
      limit_price: "1000.00",
      max_notional: "5000.00",
      expires_at: new Date(Date.now() + 10 * 60_000).toISOString(),
    }),
    async pollApproved(p, authReqId) {
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, config.idp.cibaIntervalSeconds * 1000 + 100));
        const outcome = await p.pollCiba(authReqId);
        if (outcome.kind === "approved") return outcome.token;
        if (outcome.kind !== "pending" && outcome.kind !== "slow_down") throw new Error(`poll ended: ${JSON.stringify(outcome)}`);
      }
      throw new Error("not approved in time");
    },
    async approve(p, order, agentToken) {
      const ack = await p.startCiba({ order, bindingMessage: deriveBindingMessage(order), actorToken: agentToken, requestedExpirySeconds: 120 });
      const mail = await mailFor(broker.db, order.order_id);
      await new ApprovalPageUser().decide(mail.links.approve!, "approve", PASSWORD);
      return ack.authReqId;
    },
    mailFor: (orderId) => mailFor(broker.db, orderId),
    async ledger() {
      const portfolio = await getPortfolio(broker.db, config.investor.userId, () => undefined);
      return { trades: (await listTrades(broker.db)).length, cash: portfolio?.cashCents, holdings: portfolio?.holdings };
    },
    async stop() {
      await endpoint.close();
      await idp.stop();
      await broker.stop();
    },
  };
}

async function mailFor(db: Parameters<typeof listMail>[0], orderId: string) {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    for (const summary of await listMail(db)) {
      const mail = await getMail(db, summary.id);
      if (mail?.text.includes(orderId)) return mail;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no mail for ${orderId}`);
}
