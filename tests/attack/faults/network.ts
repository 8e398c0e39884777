import type { FetchLike } from "@/lib/net/fetch";
import { Attacker } from "./attacker";
import type { History } from "./history";
import type { World } from "./world";

/**
 * The network between the agent process and the servers, with the schedule's faults in it:
 *
 * - identity server outage: for a while every request under /oidc is refused at connect, as when
 *   the server is down (the broker and Alice still reach what they reach);
 * - duplicated CIBA polls: the next n token requests for an auth_req_id reach the server twice at
 *   once; the agent gets the answer to its own copy, the other answer is lost;
 * - the attacker on the path to /mcp (attacker.ts).
 *
 * While Alice decides, the agent's next CIBA poll waits for her (whileAliceActs).
 *
 * /mcp is served in-process, /oidc over real HTTP on loopback.
 */
const CIBA_GRANT = "urn:openid:params:grant-type:ciba";

export class Network {
  duplicatePolls = 0;
  /** Requests refused because the identity server was down. */
  refused = 0;
  private downUntil = 0;
  private aliceActing: Promise<unknown> | undefined;
  readonly attacker: Attacker;

  constructor(
    private readonly world: World,
    private readonly history: History,
  ) {
    this.attacker = new Attacker(world, history);
  }

  readonly send: FetchLike = async (input, init) => {
    const url = input instanceof Request ? input.url : input.toString();
    const path = new URL(url).pathname;
    if (path === "/mcp" || path.startsWith("/mcp/")) {
      return this.attacker.observe(url, init, () => this.world.mcpFetch(input, init));
    }
    if (path.startsWith("/oidc") && this.idpDown) {
      this.refused += 1;
      throw new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED (identity server down)"), { code: "ECONNREFUSED" }) });
    }
    const poll = isCibaPoll(path, init);
    while (poll && this.aliceActing) await this.aliceActing;
    if (this.duplicatePolls > 0 && poll) {
      this.duplicatePolls -= 1;
      const [own, copy] = await Promise.all([this.world.httpFetch(input, init), this.world.httpFetch(input, init)]);
      this.history.add(`CIBA poll duplicated: the lost copy got ${await answerOf(copy)}`);
      return own;
    }
    return this.world.httpFetch(input, init);
  };

  /**
   * Runs Alice's watch-and-decide with the agent's CIBA polls held back: to the agent she is
   * quick (within one polling interval), however long her page takes in real time here. A poll
   * already on its way is not held.
   */
  async whileAliceActs<T>(decision: Promise<T>): Promise<T> {
    const acting = decision.catch(() => undefined);
    this.aliceActing = acting;
    try {
      return await decision;
    } finally {
      if (this.aliceActing === acting) this.aliceActing = undefined;
    }
  }

  /** The identity server is unreachable for the next `ms` milliseconds. */
  outage(ms: number): void {
    this.downUntil = Date.now() + ms;
  }

  get idpDown(): boolean {
    return Date.now() < this.downUntil;
  }

  /** The outage and the duplication end (an armed attacker stays: it is not a fault of the network). */
  heal(): void {
    this.downUntil = 0;
    this.duplicatePolls = 0;
  }
}

export function isCibaPoll(path: string, init: RequestInit | undefined): boolean {
  if (!path.endsWith("/token") || (init?.method ?? "GET").toUpperCase() !== "POST") return false;
  const body = init?.body;
  const form = typeof body === "string" ? new URLSearchParams(body) : body instanceof URLSearchParams ? body : undefined;
  return form?.get("grant_type") === CIBA_GRANT;
}

async function answerOf(res: Response): Promise<string> {
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; error?: string };
  return body.access_token ? "the on-behalf-of token" : (body.error ?? `HTTP ${res.status}`);
}
