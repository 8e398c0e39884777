import "server-only";
import { errors, type BackchannelAuthenticationRequest, type Client, type KoaContextWithOIDC } from "oidc-provider";
import type { AppConfig } from "../config";
import type { Queryable } from "../store/db";
import { auditCibaRequested } from "./audit";
import type { InvestorAccounts } from "./accounts";
import { recordCibaRequest, countPendingCibaRequests, newCibaRequestHandle, setCibaRequestMail } from "./ciba-requests";
import { bindingMessageProblem } from "../orders/binding-message";
import { stockTradeEntries } from "../orders/order";
import { ACCESS_TOKEN_TYPE, SCOPE_TRADE, STOCK_TRADE_MANDATE_TYPE, STOCK_TRADE_TYPE } from "../protocol";
import { mandateEntries } from "../standing-mandate/mandate";
import { askedFor } from "./authorization-details";
import type { Mailer } from "./mailer";
import { renderApprovalEmail } from "./notification-email";
import { ProtocolError } from "../errors";
import type { OwnTokenVerifier } from "./own-tokens";

/**
 * The CIBA hooks oidc-provider asks a deployment for (features.ciba), poll mode only
 * (OpenID CIBA Core 1.0). oidc-provider runs the protocol — client authentication, the hint
 * rules, scope checks, auth_req_id issuance, the token endpoint errors — and calls these for the
 * parts only the deployment knows: who the user is, what a good binding message is, how to reach
 * the user's authentication device (here: an email with a link to the approval page).
 */
export interface CibaDeps {
  config: AppConfig;
  db: Queryable;
  accounts: InvestorAccounts;
  mailer: Mailer;
  verifyOwnToken: OwnTokenVerifier;
  /** Where the approval page lives: PUBLIC_URL + DECISION_PAGE_PATH (decision-page/pages.ts). */
  approvalBaseUrl: string;
}

/** The agent behind each CIBA request, from its verified actor_token, until the request is saved. */
const actors = new WeakMap<object, string>();

export function createCibaFeature(deps: CibaDeps) {
  const { config, db, accounts } = deps;
  return {
    enabled: true,
    deliveryModes: ["poll"] as const,

    /**
     * login_hint → account id (§7.1), then the approval-bombing guard for that user and the
     * requesting client (authenticated by now: oidc-provider runs client authentication first).
     */
    async processLoginHint(ctx: KoaContextWithOIDC, loginHint: string) {
      const accountId = accounts.resolve(loginHint);
      if (!accountId) return undefined; // oidc-provider answers unknown_user_id
      await assertPendingBelowLimit(db, accountId, ctx.oidc.client!.clientId, config.idp.maxPendingPerClientAndUser);
      return accountId;
    },

    async processLoginHintToken() {
      throw new errors.InvalidRequest("login_hint_token is not supported by this server; use login_hint");
    },

    async validateBindingMessage(_ctx: KoaContextWithOIDC, bindingMessage?: string) {
      const problem = bindingMessageProblem(bindingMessage);
      if (problem) throw new errors.InvalidBindingMessage(problem);
    },

    /**
     * request_context is not used by this server. This hook runs after the scope and RAR checks,
     * so it is also where the trade rule lives: stock:trade is only ever granted for one exact
     * order, so a request for it must carry exactly one stock_trade detail.
     */
    async validateRequestContext(ctx: KoaContextWithOIDC) {
      assertTradeIsForOneOrder(ctx.oidc.params as Record<string, unknown>);
    },

    /** user_code is not used (discovery says backchannel_user_code_parameter_supported: false). */
    async verifyUserCode(_ctx: KoaContextWithOIDC, _account: unknown, userCode?: string) {
      if (userCode !== undefined) throw new errors.InvalidRequest("user_code is not supported by this server");
    },

    async triggerAuthenticationDevice(ctx: KoaContextWithOIDC, request: BackchannelAuthenticationRequest, _account: unknown, client: Client) {
      await notifyUser(deps, ctx, request, client);
    },
  };
}

/**
 * Extra parameters of the backchannel authentication request. `actor_token` (RFC 8693 §2.1
 * semantics) names the agent acting for the user; its subject becomes the `act` claim of the
 * token Alice approves. It must be an access token this server issued to the same client.
 */
export function createCibaExtraParams(verifyOwnToken: OwnTokenVerifier) {
  return {
    actor_token_type: null,
    async actor_token(ctx: KoaContextWithOIDC, value: string | undefined, client: Client) {
      if (ctx.oidc.route !== "backchannel_authentication") return;
      const type = ctx.oidc.params?.actor_token_type;
      if (value === undefined) {
        if (type !== undefined) throw new errors.InvalidRequest("actor_token_type was sent without actor_token");
        return;
      }
      if (type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest(`actor_token requires actor_token_type=${ACCESS_TOKEN_TYPE}`);
      }
      try {
        const actor = await verifyOwnToken(value, client.clientId);
        actors.set(ctx, actor.sub);
      } catch (error) {
        if (error instanceof ProtocolError) throw new errors.InvalidRequest(`actor_token rejected: ${error.description}`);
        throw error;
      }
      // Keep the subject only: the agent's token itself is not stored with the request.
      (ctx.oidc.params as Record<string, unknown>).actor_token = undefined;
    },
  };
}

/** requested_expiry (§7.1) is honoured up to the configured maximum. */
export function backchannelRequestTtl(config: AppConfig) {
  return (ctx: KoaContextWithOIDC | undefined) => {
    const max = config.idp.cibaMaxExpirySeconds;
    const requested = Number(ctx?.oidc?.params?.requested_expiry);
    return Number.isSafeInteger(requested) && requested > 0 ? Math.min(requested, max) : max;
  };
}

/**
 * stock:trade is granted for one exact order (`stock_trade`) or one standing mandate
 * (`stock_trade_mandate`, whose limits the resource server enforces trade by trade), never for
 * both and never for neither.
 */
function assertTradeIsForOneOrder(params: Record<string, unknown>) {
  const scopes = String(params.scope ?? "").split(" ");
  if (!scopes.includes(SCOPE_TRADE)) return;
  if (typeof params.authorization_details !== "string") {
    throw new errors.InvalidRequest(
      `scope ${SCOPE_TRADE} requires authorization_details describing the order (type ${STOCK_TRADE_TYPE}) or a standing mandate (type ${STOCK_TRADE_MANDATE_TYPE})`,
    );
  }
  const details = JSON.parse(params.authorization_details) as unknown[];
  if (stockTradeEntries(details).length + mandateEntries(details).length !== 1) {
    throw new errors.InvalidAuthorizationDetails(
      `scope ${SCOPE_TRADE} requires exactly one ${STOCK_TRADE_TYPE} or exactly one ${STOCK_TRADE_MANDATE_TYPE} authorization detail`,
    );
  }
}

export class TooManyPendingRequests extends errors.AccessDenied {}

/**
 * At most `limit` pending requests per client and user: per user alone, any client allowed to use
 * CIBA could fill the user's slots and keep the agent from ever asking (starvation); per client
 * alone, nothing would stop one client bombing the user.
 */
async function assertPendingBelowLimit(db: Queryable, accountId: string, clientId: string, limit: number) {
  const pending = await countPendingCibaRequests(db, accountId, clientId);
  if (pending >= limit) {
    // access_denied is the CIBA §13 code for "the OP denied the request"; the description says why.
    throw new TooManyPendingRequests(
      `too many pending approval requests from this client for this user (${pending} of ${limit}); wait until one is approved, denied or expired`,
    );
  }
}

/** Records the CIBA request and emails the user the order, the binding message and the links. */
async function notifyUser(deps: CibaDeps, ctx: KoaContextWithOIDC, request: BackchannelAuthenticationRequest, client: Client) {
  const { config, db, accounts, mailer } = deps;
  const investor = accounts.byId(request.accountId!)!;
  const params = (request.params ?? {}) as Record<string, string | undefined>;
  const details = params.authorization_details ? (JSON.parse(params.authorization_details) as unknown[]) : null;
  const handle = newCibaRequestHandle();
  const expiresAt = new Date((request.exp ?? Math.floor(Date.now() / 1000) + request.expiration) * 1000);
  await recordCibaRequest(db, {
    handle,
    authReqId: request.jti,
    clientId: client.clientId,
    accountId: request.accountId!,
    actorSub: actors.get(ctx) ?? null,
    scope: request.scope ?? "",
    bindingMessage: params.binding_message ?? null,
    authorizationDetails: details,
    expiresAt,
  });

  await auditCibaRequested(db, {
    accountId: request.accountId!,
    actorSub: actors.get(ctx) ?? null,
    clientId: client.clientId,
    scope: request.scope ?? "",
    authorizationDetails: details,
    bindingMessage: params.binding_message ?? null,
  });

  const approveUrl = `${deps.approvalBaseUrl}/${handle}`;
  const denyUrl = `${approveUrl}?decision=deny`;
  const agentName = actors.get(ctx) === config.agent.id ? config.agent.name : (client.clientName ?? client.clientId);
  const mail = renderApprovalEmail({
    investorName: investor.name,
    agentName,
    order: askedFor(details),
    scope: request.scope ?? "",
    bindingMessage: params.binding_message,
    expiresAt,
    approveUrl,
    denyUrl,
  });
  const mailId = await mailer.send({ to: investor.email, ...mail, links: { approve: approveUrl, deny: denyUrl } });
  await setCibaRequestMail(db, handle, mailId);
  console.log(`[idp] CIBA request for ${request.accountId} from client ${client.clientId}: mail ${mailId}, expires ${expiresAt.toISOString()}`);
}
