import "server-only";
import type { IdentityServerProfile, TokenResult } from "./profiles/types";

/**
 * The agent's own access token, kept in memory only and renewed before it expires: at the latest
 * RENEW_MARGIN before `exp`, earlier for short-lived tokens (a fifth of the lifetime). Concurrent
 * callers share one request. The token string never leaves this object except as the
 * Authorization header the MCP client builds from `current()`.
 */
const RENEW_MARGIN_MS = 60_000;

export interface AgentTokenEvents {
  /** A new token was obtained (first time or renewal). Receives the result minus nothing secret. */
  onToken?(token: TokenResult, renewed: boolean): void | Promise<void>;
}

export class AgentTokenSource {
  private token: TokenResult | undefined;
  private obtainedAt = 0;
  private inflight: Promise<TokenResult> | undefined;

  constructor(
    private readonly profile: IdentityServerProfile,
    private readonly events: AgentTokenEvents = {},
    private readonly now: () => number = Date.now,
  ) {}

  /** A valid token, renewed first when it is close to expiry. */
  async current(): Promise<TokenResult> {
    if (this.token && !this.needsRenewal(this.token)) return this.token;
    return this.renew();
  }

  /** Forces a new token (the resource server said the current one is invalid). */
  renew(): Promise<TokenResult> {
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Forgets the token (stop, reset). */
  clear(): void {
    this.token = undefined;
  }

  private needsRenewal(token: TokenResult): boolean {
    const lifetime = token.expiresAt.getTime() - this.obtainedAt;
    const margin = Math.min(RENEW_MARGIN_MS, Math.max(1000, lifetime / 5));
    return this.now() >= token.expiresAt.getTime() - margin;
  }

  private async fetchToken(): Promise<TokenResult> {
    const renewed = this.token !== undefined;
    const token = await this.profile.getAgentToken();
    this.token = token;
    this.obtainedAt = this.now();
    await this.events.onToken?.(token, renewed);
    return token;
  }
}
