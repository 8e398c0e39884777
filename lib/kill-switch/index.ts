import "server-only";
import { auditAgentAccess } from "../agent/audit";
import { tellAgentOwner } from "../agent/control";
import { cancelOpenWork, loadAgentRow, saveAgentRow } from "../agent/repository";
import { ProtocolError } from "../errors";
import type { Runtime } from "../runtime";
import {
  readAgentRevocation,
  recordAgentReenabled,
  recordAgentRevocationCompleted,
  recordAgentRevoked,
  type AgentRevocation,
} from "../store/agent-revocations";
import { revokeAgentMandates } from "../store/standing-mandates";
import { serialized } from "./serialize";
import { serverSideRevocation } from "./server-side";

/**
 * The kill switch: Alice revokes her agent, and later may give it fresh credentials.
 *
 * Revoking, in this order, so that the first step alone already protects her:
 * 1. the revocation record is written (with its audit record, in one transaction): from here /mcp
 *    refuses every token of the agent (mcp/revocation.ts), in this process at once (the bus
 *    drops the resource server's cache) and in any other instance within its cache TTL;
 * 2. the agent loop stops, aborts its work and forgets its tokens;
 * 3. the app's open orders and pending approval requests are cancelled;
 * 4. the authorization server withdraws what it can (server-side.ts: the embedded server replaces
 *    the client's secret, cancels its CIBA requests and revokes its grants; WSO2 and Auth0 are
 *    described there);
 * 5. the record is marked complete. A crash anywhere before that leaves it incomplete, and the
 *    next start runs steps 2–5 again (each finds nothing left to do where it already ran).
 *
 * A second or concurrent revoke changes nothing. Both operations run one at a time per process.
 */
export interface KillSwitchOutcome {
  record: AgentRevocation;
  /** False when the agent was already in the requested state (a replayed request). */
  changed: boolean;
}

export function revokeAgent(rt: Runtime, reason = `revoked by ${rt.config.investor.name} from the dashboard`): Promise<KillSwitchOutcome> {
  return serialized(async () => {
    const { config, db } = rt;
    const written = await db.transaction(async (tx) => {
      const result = await recordAgentRevoked(tx, { agentId: config.agent.id, clientId: config.auth.agentClientId, reason, now: new Date() });
      if (result.changed) await auditAgentAccess({ db, config }, { event: "agent.revoked", reason }, tx);
      return result;
    });
    rt.bus.publish("agent-revocation", { record: written.record });
    if (!written.changed && written.record.completedAt) return written;
    return { record: await finishRevocation(rt, written.record), changed: written.changed };
  });
}

/** Start-up: a revocation the app did not finish (it was stopped or killed half-way) is finished now. */
export async function finishInterruptedRevocation(rt: Runtime): Promise<boolean> {
  const record = await readAgentRevocation(rt.db, rt.config.agent.id);
  if (record?.status !== "revoked" || record.completedAt) return false;
  console.warn("[kill-switch] the last revocation of the agent was interrupted: finishing it");
  await serialized(() => finishRevocation(rt, record));
  return true;
}

async function finishRevocation(rt: Runtime, record: AgentRevocation): Promise<AgentRevocation> {
  const { config, db } = rt;
  // The client acts for every investor: each agent loop this instance runs stops, and the
  // instances that hold the other investors' agent leases are told to stop theirs.
  for (const agent of rt.agents.values()) await agent.revoke(record.reason);
  // A store error here must not skip what follows: the agent's tokens are refused at /mcp anyway.
  for (const investor of config.investors) {
    if (!rt.agents.has(investor.userId)) await tellAgentOwner(rt.scopeOf(investor), "revoke").catch((e: unknown) => console.error("[kill-switch] telling the agent's instance failed:", e instanceof Error ? e.message : e));
  }
  const cancelled = await cancelOpenWork(db, `cancelled: ${config.agent.name}'s access was revoked`);
  // Standing mandates end with the agent: a re-enabled agent starts without one.
  const mandates = await revokeAgentMandates(db, config.agent.id);
  const atServer = await serverSideRevocation(rt, record.reason);
  await recordAgentRevocationCompleted(db, config.agent.id);
  await rt.activity.add({
    level: "error",
    kind: "agent.revoked",
    message:
      `${config.agent.name} stopped: ${config.investor.name} revoked its access (${record.reason}). ` +
      `The broker refuses its tokens; ${cancelled} open order(s) cancelled; ${mandates} standing mandate(s) revoked; ${atServer}`,
    data: { cancelledOrders: cancelled, revokedMandates: mandates },
  });
  rt.bus.publish("agent", { reason: "revoked" });
  return (await readAgentRevocation(db, config.agent.id))!;
}

/**
 * Re-enabling: fresh credentials (embedded: a new client secret; every profile: a new agent
 * instance, so a new DPoP key and new tokens), and tokens issued before the revocation stay
 * refused at /mcp for good (their `iat` is before the record's `notBefore`).
 */
export function reenableAgent(rt: Runtime): Promise<KillSwitchOutcome> {
  return serialized(async () => {
    const { config, db } = rt;
    let record = await readAgentRevocation(db, config.agent.id);
    if (record?.status !== "revoked") {
      if (record) return { record, changed: false };
      throw new ProtocolError("agent_not_revoked", `${config.agent.name} is not revoked.`, { status: 409 });
    }
    if (!record.completedAt) record = await finishRevocation(rt, record);
    // Tokens issued before the revocation have iat < notBefore; the new agent's must not.
    const wait = record.notBefore * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const clientSecret = rt.idp ? await rt.idp.renewAgentClientSecret() : (config.auth.agentClientSecret ?? "");
    const updated = await db.transaction(async (tx) => {
      const done = await recordAgentReenabled(tx, config.agent.id, Math.floor(Date.now() / 1000));
      if (done) {
        await auditAgentAccess(
          { db, config },
          { event: "agent.reenabled", reason: rt.idp ? "fresh credentials: a new client secret and DPoP key" : "fresh credentials: a new DPoP key and tokens" },
          tx,
        );
      }
      return done;
    });
    if (!updated) return { record: (await readAgentRevocation(db, config.agent.id))!, changed: false };
    rt.bus.publish("agent-revocation", { record: updated });
    await rt.activity.add({
      level: "success",
      kind: "agent.reenabled",
      message: `${config.agent.name} re-enabled by ${config.investor.name} with fresh credentials${rt.idp ? " (a new client secret; the old one is refused)" : ""}; tokens issued before the revocation stay refused.`,
    });
    // The last outcome the panel shows is no longer the revocation; the new agent loads this row.
    await loadAgentRow(db, config.agent.id); // made if the agent never ran here
    await saveAgentRow(db, config.agent.id, { reason: `Re-enabled with fresh credentials after: ${updated.reason}.` });
    // A new agent for each investor where her agent runs: here, or on the instance that holds its
    // lease (which reads the client's new secret from the store).
    if (config.agent.enabled) {
      await rt.restartAgent(clientSecret);
      for (const investor of config.investors) if (!rt.agents.has(investor.userId)) await tellAgentOwner(rt.scopeOf(investor), "reenable");
    }
    rt.bus.publish("agent", { reason: "reenabled" });
    return { record: updated, changed: true };
  });
}
