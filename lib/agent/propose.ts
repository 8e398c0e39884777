import "server-only";
import { generateText, InvalidToolInputError, JSONParseError, stepCountIs, tool, TypeValidationError, type LanguageModel } from "ai";
import { z } from "zod";
import { formatMoney } from "../money";
import type { Mandate, RawProposal } from "./mandate";
import { systemPrompt, userPrompt } from "./prompts";

/**
 * Asks the model for a recommendation. Its tools are proposal tools: `get_market_price` (the
 * agent reads the price through MCP with its own token and hands the model only the numbers)
 * and `propose_buy` (records what the model suggests; nothing is executed). The model's whole
 * output is a list of raw proposals that code validates next.
 */
export const MAX_STEPS = 4;

export interface ProposeInput {
  model: LanguageModel;
  mandate: Mandate;
  priceCents: number;
  agentName: string;
  investorName: string;
  timeoutMs: number;
  /** Reads a fresh quote for the model (through MCP, with the agent token). */
  readPrice(symbol: string): Promise<{ symbol: string; priceCents: number; status: string }>;
  signal?: AbortSignal;
}

export interface ProposeResult {
  /** Every propose_buy call, as the model made it (untrusted). */
  proposals: RawProposal[];
  /**
   * Why each propose_buy call that could not be read was refused (arguments that are not JSON or
   * do not fit the tool's schema). The model is told of the error and may try again.
   */
  malformed: string[];
  /** The model's closing text, for the activity log. */
  text: string;
  steps: number;
}

export async function askForProposal(input: ProposeInput): Promise<ProposeResult> {
  const proposals: RawProposal[] = [];
  const tools = {
    get_market_price: tool({
      description: "Current price of a stock in USD and the market status.",
      inputSchema: z.object({ symbol: z.string().describe("Ticker symbol, e.g. NVDA") }),
      execute: async ({ symbol }) => {
        if (symbol !== input.mandate.symbol) return { error: `Only ${input.mandate.symbol} is watched.` };
        const quote = await input.readPrice(symbol);
        return { symbol: quote.symbol, price: formatMoney(quote.priceCents), currency: "USD", status: quote.status };
      },
    }),
    propose_buy: tool({
      description:
        "Proposes buying shares for the investor. Records a proposal only: the agent's code checks it against the mandate " +
        "and the investor must approve the exact order before anything is bought.",
      // Deliberately loose: any string and any number reach validateProposal, which refuses or
      // clips them with a reason the activity log can show. Arguments that are not JSON or of
      // another type never reach it: they are reported in `malformed`.
      inputSchema: z.object({
        symbol: z.string().describe("Ticker symbol"),
        quantity: z.number().describe("Whole number of shares"),
        reason: z.string().describe("One sentence: why this is a golden buy"),
      }),
      execute: async (proposal) => {
        proposals.push(proposal);
        return { status: "recorded", note: "The investor will be asked to approve the exact order." };
      },
    }),
  };

  const signal = input.signal ? AbortSignal.any([input.signal, AbortSignal.timeout(input.timeoutMs)]) : AbortSignal.timeout(input.timeoutMs);
  const result = await generateText({
    model: input.model,
    system: systemPrompt(input.agentName, input.investorName),
    prompt: userPrompt(input.mandate, input.priceCents),
    tools,
    stopWhen: stepCountIs(MAX_STEPS),
    abortSignal: signal,
    maxRetries: 1,
    temperature: 0,
  });
  const malformed = result.steps
    .flatMap((step) => step.toolCalls)
    .filter((call) => call.dynamic && call.invalid && call.toolName === "propose_buy")
    .map((call) => whyMalformed((call as { error?: unknown }).error));
  return { proposals, malformed, text: result.text.trim().slice(0, 300), steps: result.steps.length };
}

/**
 * Why the AI SDK could not read a tool call, in words safe to log: the kind of problem and the
 * fields concerned, never the model's text (the errors' own messages quote it).
 */
export function whyMalformed(error: unknown): string {
  const cause = InvalidToolInputError.isInstance(error) ? error.cause : error;
  if (JSONParseError.isInstance(cause)) return "its arguments are not valid JSON";
  if (TypeValidationError.isInstance(cause)) {
    const issues = (cause.cause as { issues?: { path?: unknown[] }[] } | undefined)?.issues ?? [];
    const fields = [...new Set(issues.map((i) => (i.path ?? []).map(String).join(".")).filter((f) => /^[A-Za-z0-9_.]{1,40}$/.test(f)))];
    return fields.length ? `its arguments do not fit the tool's schema (${fields.join(", ")})` : "its arguments do not fit the tool's schema";
  }
  return "its arguments could not be read";
}
