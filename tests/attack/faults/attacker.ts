import { newOrderId } from "@/lib/orders/freeze";
import type { History } from "./history";
import type { World } from "./world";

/**
 * Someone on the wire between the agent and /mcp. It sees every buy_stock / sell_stock call that
 * carries an on-behalf-of token (one with stock:trade) and, when armed, sends its own calls with
 * that token at the same moment as the agent's: the same request again (a duplicated buy),
 * another order id, a larger quantity, the other side; or the same call with another token: an
 * earlier on-behalf-of token, or the agent's own token as last seen on a read. It can also
 * replay the last seen call later. Headers go along as seen (a DPoP proof included). Whatever the
 * broker answers is written to the history; whether a trade resulted is judged from the ledger.
 */
export type ReplayVariant = "same" | "other_order" | "more" | "sell" | "old_token" | "agent_token";
export const REPLAY_VARIANTS: readonly ReplayVariant[] = ["same", "other_order", "more", "sell", "old_token", "agent_token"];

interface SeenCall {
  url: string;
  headers: Headers;
  message: { jsonrpc: string; id?: unknown; method: string; params: { name: string; arguments: Record<string, unknown> } };
  token: string;
}

export class Attacker {
  private armed: ReplayVariant[] = [];
  private readonly seen: SeenCall[] = [];
  /** The headers of the newest call with the agent's own token (a price read). */
  private agentHeaders: Headers | undefined;
  private readonly attacks: Promise<void>[] = [];

  constructor(
    private readonly world: World,
    private readonly history: History,
  ) {}

  /** At the next trade call with an on-behalf-of token, also send `variant`, concurrently. */
  arm(variant: ReplayVariant): void {
    this.armed.push(variant);
  }

  disarm(): void {
    this.armed = [];
  }

  /** Sends the newest seen trade call again now, changed by `variant`. */
  async replayNow(variant: ReplayVariant): Promise<void> {
    const last = this.seen.at(-1);
    if (!last) return this.history.add(`replay ${variant} now: no on-behalf-of call seen yet`);
    await this.fire(variant, last, "later");
  }

  /** Resolves when every call the attacker sent has been answered. */
  async settled(): Promise<void> {
    await Promise.all(this.attacks);
  }

  /** Passes the agent's own call through (sent first) and adds the armed calls next to it. */
  observe(url: string, init: RequestInit | undefined, send: () => Promise<Response>): Promise<Response> {
    const call = tradeCall(url, init);
    if (!call) {
      if (typeof init?.body === "string" && init.body.includes('"get_market_price"')) this.agentHeaders = new Headers(init.headers);
      return send();
    }
    const own = send();
    this.seen.push(call);
    this.history.add(`agent calls ${call.message.params.name} ${String(call.message.params.arguments.order_id)} with an on-behalf-of token`);
    for (const variant of this.armed.splice(0)) this.attacks.push(this.fire(variant, call, "concurrently"));
    return own;
  }

  private async fire(variant: ReplayVariant, base: SeenCall, when: string): Promise<void> {
    const message = structuredClone(base.message);
    const args = message.params.arguments;
    let token = base.token;
    if (variant === "other_order") {
      const [other] = await this.world.db.query<{ order_id: string }>("SELECT order_id FROM orders WHERE order_id <> $1 ORDER BY created_at DESC LIMIT 1", [args.order_id]);
      args.order_id = other?.order_id ?? newOrderId();
    } else if (variant === "more") {
      args.quantity = Number(args.quantity) + 1;
    } else if (variant === "sell") {
      message.params.name = message.params.name === "buy_stock" ? "sell_stock" : "buy_stock";
    } else if (variant === "old_token") {
      const earlier = this.seen.find((s) => s.token !== base.token);
      if (!earlier) return this.history.add(`replay old_token ${when}: no earlier on-behalf-of token seen`);
      token = earlier.token;
    }
    let headers = new Headers(base.headers);
    headers.set("authorization", `${headers.get("authorization")!.split(" ")[0]} ${token}`);
    if (variant === "agent_token") {
      if (!this.agentHeaders) return this.history.add(`replay agent_token ${when}: no call with the agent's token seen`);
      headers = new Headers(this.agentHeaders);
    }
    const answer = await this.world
      .mcpFetch(base.url, { method: "POST", headers, body: JSON.stringify(message) })
      .then(outcomeOf, (error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`);
    this.history.add(`replay ${variant} ${when} (${message.params.name} ${String(args.order_id)} × ${String(args.quantity)}) → ${answer}`);
  }
}

/** Whether a request is a buy_stock / sell_stock call with an on-behalf-of token. */
export function isOnBehalfTradeCall(init: RequestInit | undefined): boolean {
  return tradeCall("", init) !== undefined;
}

function tradeCall(url: string, init: RequestInit | undefined): SeenCall | undefined {
  if (typeof init?.body !== "string" || !init.body.includes('"tools/call"')) return undefined;
  const message = JSON.parse(init.body) as SeenCall["message"];
  if (message.method !== "tools/call" || !/^(buy|sell)_stock$/.test(message.params?.name ?? "")) return undefined;
  const headers = new Headers(init.headers);
  const token = /^(?:Bearer|DPoP)\s+(\S+)$/i.exec(headers.get("authorization") ?? "")?.[1];
  if (!token || !scopesOf(token).includes("stock:trade")) return undefined;
  return { url, headers, message, token };
}

function scopesOf(jwt: string): string[] {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as { scope?: unknown };
    return typeof payload.scope === "string" ? payload.scope.split(" ") : Array.isArray(payload.scope) ? payload.scope.map(String) : [];
  } catch {
    return [];
  }
}

/** The broker's answer in one phrase: executed (with the trade id) or why not. */
export async function outcomeOf(res: Response): Promise<string> {
  if (res.status !== 200) {
    const challenge = /error="([a-z_]+)"/.exec(res.headers.get("www-authenticate") ?? "")?.[1];
    return `HTTP ${res.status}${challenge ? ` ${challenge}` : ""}`;
  }
  const body = (await res.json()) as { result?: { isError?: boolean; content?: { text?: string }[]; structuredContent?: { trade_id?: unknown } }; error?: { code: number } };
  if (body.error) return `JSON-RPC error ${body.error.code}`;
  if (body.result?.isError) return `refused ${/^Refused \(([a-z_]+)\)/.exec(body.result.content?.[0]?.text ?? "")?.[1] ?? "(unknown)"}`;
  return `EXECUTED trade ${String(body.result?.structuredContent?.trade_id)}`;
}
