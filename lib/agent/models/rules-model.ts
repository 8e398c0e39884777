import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Content,
  LanguageModelV3GenerateResult,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
} from "@ai-sdk/provider";
import { formatMoney, parseMoney } from "../../money";
import { MANDATE_MARKER } from "../prompts";

/**
 * The built-in rules model: an AI SDK language model (LanguageModelV3) without a neural network.
 * It reads the same prompt and calls the same tools a good model would, so the agent runs the
 * same generateText path with or without a Gemini key:
 *
 *   step 1: get_market_price {symbol}
 *   step 2: price below the threshold → propose_buy {symbol, quantity = floor(budget / price), reason}
 *           otherwise a short text saying why not
 *   step 3: a one-line summary
 *
 * Deterministic, so the demo and the tests behave the same every time. A development default:
 * announced at start-up and refused in production unless explicitly allowed (lib/agent/models/select.ts).
 */
export const RULES_MODEL_ID = "rules";

interface MandateInPrompt {
  symbol: string;
  budgetCents: number;
  thresholdCents: number;
}

export function createRulesModel(): LanguageModelV3 {
  return {
    specificationVersion: "v3",
    provider: "sleeping-guardian",
    modelId: RULES_MODEL_ID,
    supportedUrls: {},
    doGenerate: async (options) => decide(options),
    doStream: async (options) => {
      const result = decide(options);
      return { stream: toStream(result) };
    },
  };
}

function decide(options: LanguageModelV3CallOptions): LanguageModelV3GenerateResult {
  const prompt = options.prompt;
  const mandate = readMandate(prompt);
  if (!mandate) return text("I cannot find the mandate in the instructions, so I propose nothing.");
  const results = toolResults(prompt);

  if (results.some((r) => r.toolName === "propose_buy")) {
    return text("Proposal submitted. The agent's code validates it and asks the investor to approve the exact order.");
  }
  const quote = [...results].reverse().find((r) => r.toolName === "get_market_price");
  if (!quote) return toolCall("get_market_price", { symbol: mandate.symbol });

  const priceCents = priceOf(quote.value);
  if (priceCents === null) return text("The price could not be read, so I propose nothing.");
  if (priceCents >= mandate.thresholdCents) {
    return text(`${mandate.symbol} is at ${formatMoney(priceCents)}, not below ${formatMoney(mandate.thresholdCents)}: no buy.`);
  }
  const quantity = Math.floor(mandate.budgetCents / priceCents);
  if (quantity < 1) return text(`One share costs more than the ${formatMoney(mandate.budgetCents)} budget: no buy.`);
  const discount = (((mandate.thresholdCents - priceCents) / mandate.thresholdCents) * 100).toFixed(1);
  return toolCall("propose_buy", {
    symbol: mandate.symbol,
    quantity,
    reason:
      `Golden buy: ${mandate.symbol} at ${formatMoney(priceCents)} USD is ${discount}% below the ${formatMoney(mandate.thresholdCents)} threshold; ` +
      `${quantity} shares use ${formatMoney(quantity * priceCents)} of the ${formatMoney(mandate.budgetCents)} budget.`,
  });
}

/** The machine-readable mandate line the prompt carries (lib/agent/prompts.ts). */
function readMandate(prompt: LanguageModelV3Prompt): MandateInPrompt | undefined {
  for (const message of prompt) {
    const texts = typeof message.content === "string" ? [message.content] : message.content.flatMap((p) => (p.type === "text" ? [p.text] : []));
    for (const t of texts) {
      const line = t.split("\n").find((l) => l.startsWith(MANDATE_MARKER));
      if (!line) continue;
      try {
        const m = JSON.parse(line.slice(MANDATE_MARKER.length)) as { symbol?: unknown; budget?: unknown; threshold?: unknown };
        const budgetCents = typeof m.budget === "string" ? parseMoney(m.budget) : null;
        const thresholdCents = typeof m.threshold === "string" ? parseMoney(m.threshold) : null;
        if (typeof m.symbol === "string" && budgetCents && thresholdCents) return { symbol: m.symbol, budgetCents, thresholdCents };
      } catch {
        // not our line
      }
    }
  }
  return undefined;
}

function toolResults(prompt: LanguageModelV3Prompt): { toolName: string; value: unknown }[] {
  const out: { toolName: string; value: unknown }[] = [];
  for (const message of prompt) {
    if (message.role !== "tool") continue;
    for (const part of message.content) {
      if (part.type !== "tool-result") continue;
      const o = part.output;
      out.push({ toolName: part.toolName, value: o.type === "json" ? o.value : o.type === "text" ? safeJson(o.value) : undefined });
    }
  }
  return out;
}

function priceOf(value: unknown): number | null {
  const price = (value as { price?: unknown } | null | undefined)?.price;
  return typeof price === "string" ? parseMoney(price) : null;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

let callCounter = 0;

function toolCall(toolName: string, input: Record<string, unknown>): LanguageModelV3GenerateResult {
  return result([{ type: "tool-call", toolCallId: `rules-${++callCounter}`, toolName, input: JSON.stringify(input) }], "tool-calls");
}

function text(value: string): LanguageModelV3GenerateResult {
  return result([{ type: "text", text: value }], "stop");
}

function result(content: LanguageModelV3Content[], unified: "tool-calls" | "stop"): LanguageModelV3GenerateResult {
  return {
    content,
    finishReason: { unified, raw: unified },
    usage: {
      inputTokens: { total: 0, noCache: 0, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: 0, text: 0, reasoning: 0 },
    },
    warnings: [],
  };
}

function toStream(r: LanguageModelV3GenerateResult): ReadableStream<LanguageModelV3StreamPart> {
  const parts: LanguageModelV3StreamPart[] = [{ type: "stream-start", warnings: [] }];
  for (const c of r.content) {
    if (c.type === "text") {
      parts.push({ type: "text-start", id: "t" }, { type: "text-delta", id: "t", delta: c.text }, { type: "text-end", id: "t" });
    } else if (c.type === "tool-call") {
      parts.push(c);
    }
  }
  parts.push({ type: "finish", finishReason: r.finishReason, usage: r.usage });
  return new ReadableStream({
    start(controller) {
      for (const p of parts) controller.enqueue(p);
      controller.close();
    },
  });
}
