import type { AppConfig } from "../config";
import { formatMoney } from "../money";

/**
 * The activity lines of Alice's controls of the agent, the same whichever instance takes the
 * control: the one that runs the agent, or another that stores it and tells that one (control.ts).
 */
export function pausedLine(config: AppConfig): string {
  return `${config.agent.name} paused: no price checks, proposals or approval polling until resumed.`;
}

export function resumedLine(config: AppConfig, state: string): string {
  return `${config.agent.name} resumed (${state}).`;
}

export function mandatedLine(config: AppConfig, m: { thresholdCents: number; budgetCents: number }): string {
  return `Mandate updated: buy ${config.market.symbol} below ${formatMoney(m.thresholdCents)} USD, budget ${formatMoney(m.budgetCents)} USD per order.`;
}
