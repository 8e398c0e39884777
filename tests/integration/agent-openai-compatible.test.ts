import { asInvestor } from "../helpers/investor-session";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";
import { startChatCompletionsServer, textAnswer, toolCallAnswer, toolResultsIn, type ChatBody, type ChatCompletionsServer } from "../helpers/chat-completions-server";

/**
 * The built app's own agent with an OpenAI-compatible model: OPENAI_BASE_URL points at a
 * chat-completions server on loopback that plays a local model. It reads the price through the
 * tool the agent offers, then proposes 7 shares: fewer than the budget buys (the rules model
 * would propose 33 or more), so an order of 7 can only come from this model's tool call. The
 * crash leads to a CIBA request for exactly that order, and Alice's approval to that trade.
 */
const PASSWORD = "alice-test-password-model";
const MODEL = "local-test-model";
const API_KEY = "sk-local-model-key-never-logged-4711";
const QUANTITY = 7;
let model: ChatCompletionsServer;
let app: AppServer;

/** A model that reads the price, proposes QUANTITY shares once, then sums up. */
function localModel(body: ChatBody) {
  const results = toolResultsIn(body);
  if (results.some((r) => r.name === "propose_buy")) return textAnswer(`Proposed ${QUANTITY} NVDA; Alice must approve it.`);
  const quote = results.find((r) => r.name === "get_market_price");
  if (!quote) return toolCallAnswer("get_market_price", { symbol: "NVDA" });
  const { price } = JSON.parse(quote.content) as { price: string };
  return toolCallAnswer("propose_buy", { symbol: "NVDA", quantity: QUANTITY, reason: `NVDA at ${price} is below the threshold` });
}

beforeAll(async () => {
  model = await startChatCompletionsServer(localModel);
  // A threshold just under the opening price: a crash crosses it within a few seconds.
  app = await startApp({ OPENAI_BASE_URL: model.baseUrl, MODEL_NAME: MODEL, OPENAI_API_KEY: API_KEY, PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD });
});
afterAll(async () => {
  await app?.stop();
  await model?.close();
});

describe("the app's agent with an OpenAI-compatible model", () => {
  it("acts on the model's tool call: crash → CIBA request for the order the model chose → Alice approves → that trade", async () => {
    const started = await waitUntil(() => agentOf(app.url), (a) => a.running && a.tokens.agent !== null, 30_000, "agent running");
    expect(started.model).toEqual({ label: MODEL, kind: "openai-compatible" });

    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const alice = new Alice(app.url, "alice@example.com", PASSWORD);
    const mail = await alice.waitForApprovalMail([], 45_000);
    const agent = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL" && a.approval?.status === "pending", 10_000, "AWAITING_APPROVAL");
    expect(agent.order).toMatchObject({ symbol: "NVDA", side: "buy", quantity: QUANTITY, status: "awaiting_approval" });
    expect(agent.approval!.bindingMessage).toMatch(new RegExp(`^BUY ${QUANTITY} NVDA max \\d+\\.\\d{2} USD #[0-9A-Z]{4}$`));
    const text = ((await (await asInvestor(app.url, `/api/inbox/${mail.id}`)).json()) as { text: string }).text;
    expect(text).toContain(agent.approval!.bindingMessage);

    // What the app sent the model: its name, the proposal tools, the key as a bearer token.
    expect(model.requests.length).toBeGreaterThanOrEqual(3);
    for (const r of model.requests) {
      expect(r.path).toBe("/v1/chat/completions");
      expect(r.body.model).toBe(MODEL);
      expect(r.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(r.body.tools!.map((t) => t.function.name).sort()).toEqual(["get_market_price", "propose_buy"]);
    }

    expect((await dashboardOf(app.url)).trades).toEqual([]);
    await alice.decide(mail.approve, "approve");
    const trades = await waitUntil(async () => (await dashboardOf(app.url)).trades, (t) => t.length > 0, 20_000, "the trade");
    expect(trades).toHaveLength(1);
    expect(trades[0]).toMatchObject({ orderId: agent.order!.orderId, quantity: QUANTITY, userSub: "alice", actorSub: "aurelius" });

    // The key is nowhere the app shows or logs.
    const shown = JSON.stringify([await agentOf(app.url), await dashboardOf(app.url)]);
    expect(shown).not.toContain(API_KEY);
    expect(app.output()).not.toContain(API_KEY);
    expect(app.output()).toContain(`model ${MODEL} at ${model.baseUrl} (OpenAI-compatible, with an API key)`);
  });
});
