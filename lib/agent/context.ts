import "server-only";
import type { AgentTokenSource } from "../auth/agent-token";
import type { ProviderProfile } from "../auth/providers/types";
import type { AppConfig } from "../config";
import type { ActivityLevel } from "../types";
import type { Db } from "../store/db";
import type { BrokerPort } from "./broker";
import type { ModelChoice } from "./models/select";
import type { AgentPatch, AgentRow } from "./repository";
import type { AgentEvent } from "./state-machine";

/**
 * What the agent's steps (steps.ts, approval.ts) get from the loop (agent.ts): the collaborators,
 * the persisted state, and one way to change it. A step runs inside one unit of work with its own
 * AbortSignal; once reset or stop aborts it, `transition` refuses, so an aborted step can never
 * write over the state the reset established.
 */
export interface AgentContext {
  config: AppConfig;
  db: Db;
  profile: ProviderProfile;
  tokens: AgentTokenSource;
  broker: BrokerPort;
  model: ModelChoice;
  signal: AbortSignal;
  now(): Date;
  /** Waits between CIBA polls; the real timer unless a test follows its own clock. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  row(): AgentRow;
  transition(event: AgentEvent, patch?: AgentPatch): Promise<AgentRow>;
  /** Persists a change that is not a transition (token claims, cooldown), publishes it. */
  patch(patch: AgentPatch): Promise<AgentRow>;
  log(level: ActivityLevel, kind: string, message: string, data?: Record<string, unknown>): Promise<void>;
  /** Tells the dashboard that agent data changed (approval progress, tokens). */
  changed(reason: string): void;
}
