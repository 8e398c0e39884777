import { describe, expect, it } from "vitest";
import type { Mandate } from "@/lib/agent/mandate";
import { createRulesModel } from "@/lib/agent/models/rules-model";
import { geminiModel, selectModel } from "@/lib/agent/models/select";
import { askForProposal } from "@/lib/agent/propose";
import { parseConfig } from "@/lib/config";

/**
 * The agent's models through the one path the agent uses (askForProposal → generateText with the
 * proposal tools): the built-in rules model, and Gemini with its HTTP exchange replayed through
 * @ai-sdk/google's `fetch` option. The live Gemini path is this same code with the real fetch.
 */
const mandate: Mandate = { symbol: "NVDA", thresholdCents: 14000, budgetCents: 500000, maxQuantity: 1000 };
const quote = (priceCents: number) => async (symbol: string) => ({ symbol, priceCents, status: "CRASHING" });

describe("rules model", () => {
  it("reads the price, then proposes floor(budget / price) shares with a reason", async () => {
    const reads: string[] = [];
    const result = await askForProposal({
      model: createRulesModel(),
      mandate,
      priceCents: 13120,
      agentName: "Aurelius",
      investorName: "Alice",
      timeoutMs: 5000,
      readPrice: async (symbol) => (reads.push(symbol), quote(13120)(symbol)),
    });
    expect(reads).toEqual(["NVDA"]);
    expect(result.proposals).toHaveLength(1);
    expect(result.proposals[0]).toMatchObject({ symbol: "NVDA", quantity: 38 });
    expect(result.proposals[0]!.reason).toMatch(/131\.20.*below the 140\.00 threshold/);
    expect(result.steps).toBe(3);
  });

  it("proposes nothing when the price it reads is not below the threshold", async () => {
    const result = await askForProposal({ model: createRulesModel(), mandate, priceCents: 13900, agentName: "A", investorName: "B", timeoutMs: 5000, readPrice: quote(14050) });
    expect(result.proposals).toEqual([]);
    expect(result.text).toMatch(/not below 140\.00: no buy/);
  });

  it("is the default without a Gemini key, and refuses production unless allowed", () => {
    expect(selectModel(parseConfig({})).label).toBe("rules");
    expect(() => selectModel(parseConfig({ NODE_ENV: "production" }))).toThrow(/development default/);
    expect(selectModel(parseConfig({ NODE_ENV: "production", ALLOW_DEV_DEFAULTS_IN_PRODUCTION: "true" })).kind).toBe("rules");
    expect(selectModel(parseConfig({ GOOGLE_GENERATIVE_AI_API_KEY: "k", NODE_ENV: "production" }))).toMatchObject({ kind: "gemini", label: "gemini-2.5-flash" });
  });
});

/**
 * A FAKE Gemini API: it replays generateContent answers in Gemini's wire format (candidates →
 * content.parts → functionCall / text) and records the requests @ai-sdk/google made.
 */
function fakeGeminiFetch(answers: unknown[]) {
  const requests: { url: string; headers: Headers; body: Record<string, unknown> }[] = [];
  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : input.toString();
    requests.push({ url, headers: new Headers(init?.headers), body: JSON.parse(String(init?.body)) as Record<string, unknown> });
    const answer = answers.shift();
    if (!answer) return new Response(JSON.stringify({ error: { code: 500, message: "no more recorded answers", status: "INTERNAL" } }), { status: 500 });
    return new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json" } });
  };
  return { fetch: fetchImpl as typeof fetch, requests };
}

const usage = { promptTokenCount: 310, candidatesTokenCount: 18, totalTokenCount: 328 };
const functionCall = (name: string, args: Record<string, unknown>) => ({
  candidates: [{ content: { role: "model", parts: [{ functionCall: { name, args } }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: usage,
  modelVersion: "gemini-2.5-flash",
});
const textAnswer = (text: string) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: usage,
  modelVersion: "gemini-2.5-flash",
});

describe("Gemini through @ai-sdk/google (recorded exchange)", () => {
  it("turns Gemini's functionCall parts into the agent's proposal, over the documented endpoint", async () => {
    const gemini = fakeGeminiFetch([
      functionCall("get_market_price", { symbol: "NVDA" }),
      functionCall("propose_buy", { symbol: "NVDA", quantity: 38, reason: "NVDA is 6% below the threshold" }),
      textAnswer("I proposed buying 38 NVDA; Alice must approve it."),
    ]);
    const choice = geminiModel("test-key-not-real", "gemini-2.5-flash", gemini.fetch);
    expect(choice).toMatchObject({ kind: "gemini", label: "gemini-2.5-flash" });
    const result = await askForProposal({ model: choice.model, mandate, priceCents: 13120, agentName: "Aurelius", investorName: "Alice", timeoutMs: 5000, readPrice: quote(13120) });

    expect(result.proposals).toEqual([{ symbol: "NVDA", quantity: 38, reason: "NVDA is 6% below the threshold" }]);
    expect(result.text).toBe("I proposed buying 38 NVDA; Alice must approve it.");
    expect(gemini.requests).toHaveLength(3);
    const first = gemini.requests[0]!;
    expect(first.url).toBe("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent");
    expect(first.headers.get("x-goog-api-key")).toBe("test-key-not-real");
    const declarations = (first.body.tools as { functionDeclarations: { name: string }[] }[])[0]!.functionDeclarations.map((d) => d.name);
    expect(declarations.sort()).toEqual(["get_market_price", "propose_buy"]);
    // The second request carries the price the agent read (as the tool's result), nothing else.
    expect(JSON.stringify(gemini.requests[1]!.body)).toContain('"price":"131.20"');
  });

  it("never shows the model a token or the broker's trade tool", async () => {
    const gemini = fakeGeminiFetch([functionCall("get_market_price", { symbol: "NVDA" }), textAnswer("no buy")]);
    await askForProposal({ model: geminiModel("k", "gemini-2.5-flash", gemini.fetch).model, mandate, priceCents: 13120, agentName: "A", investorName: "B", timeoutMs: 5000, readPrice: quote(13120) });
    const sent = JSON.stringify(gemini.requests.map((r) => r.body));
    expect(sent).not.toMatch(/buy_stock|Bearer|eyJ|access_token|stock:trade/);
  });

  it("surfaces an API failure as an error (the agent then records FAILED, no order)", async () => {
    const gemini = fakeGeminiFetch([]);
    await expect(
      askForProposal({ model: geminiModel("k", "gemini-2.5-flash", gemini.fetch).model, mandate, priceCents: 13120, agentName: "A", investorName: "B", timeoutMs: 5000, readPrice: quote(13120) }),
    ).rejects.toThrow();
  });
});
