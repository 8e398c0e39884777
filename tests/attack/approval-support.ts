import * as oidc from "openid-client";
import { dashboardOf } from "../helpers/agent-app";
import type { AppServer } from "../helpers/app-server";
import { cibaParams, mailForOrder, order } from "../integration/idp-support";

/** Shared by the approval-page attack tests: a pending request for Alice, and what must not change. */

export interface PendingRequest {
  ack: oidc.BackchannelAuthenticationResponse;
  /** The approval page of this request (the mail's Approve link). */
  link: string;
  handle: string;
}

export async function pendingRequest(server: AppServer, client: oidc.Configuration, overrides: Record<string, unknown> = {}): Promise<PendingRequest> {
  const detail = order(overrides);
  const ack = await oidc.initiateBackchannelAuthentication(client, cibaParams(detail));
  const link = (await mailForOrder(server, detail.order_id as string)).links.approve;
  const handle = /\/oidc\/approve\/(apr_[A-Za-z0-9_-]+)$/.exec(link)![1]!;
  return { ack, link, handle };
}

/** Alice's ledger as the dashboard shows it: an attack must leave it as it was. */
export async function ledgerOf(server: AppServer) {
  const state = await dashboardOf(server.url);
  return { trades: state.trades, cashCents: state.portfolio?.cashCents ?? null, holdings: state.portfolio?.holdings ?? null };
}
