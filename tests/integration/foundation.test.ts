import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DashboardState } from "@/lib/demo";
import { startApp, type AppServer } from "../helpers/app-server";
import { asInvestor } from "../helpers/investor-session";

/** The foundation over real HTTP against the built app. */
describe("foundation API", () => {
  let app: AppServer;
  // Signed in as Alice: the state then includes her portfolio, and reset (her ledger) is allowed.
  const state = async () => (await (await asInvestor(app.url, "/api/state")).json()) as DashboardState;
  const post = (path: string, init: RequestInit = {}) => asInvestor(app.url, path, { method: "POST", ...init });

  beforeAll(async () => {
    // The one app of the suite that creates its store from nothing, as a first `npm run dev` does.
    app = await startApp({ MARKET_TICK_MS: "200" }, { freshStore: true });
  });
  afterAll(async () => app?.stop());

  it("serves the initial state with the configured defaults", async () => {
    const s = await state();
    expect(s.market.symbol).toBe("NVDA");
    expect(s.thresholdCents).toBe(14000);
    expect(s.portfolio).toMatchObject({ userSub: "alice", cashCents: 1_000_000, holdings: [] });
    expect(s.history.length).toBeGreaterThan(0);
  });

  it("runs the ticker and the agent in its one process on the embedded store, as /api/health says", async () => {
    const health = (await (await fetch(`${app.url}/api/health`)).json()) as { store: string; instance: { id: string; leadsTicker: boolean; agents: unknown[] } };
    expect(health.store).toBe("pglite");
    expect(health.instance).toEqual({ id: expect.stringMatching(/-\d+-[0-9a-f]{4}$/), leadsTicker: true, agents: [{ investor: "alice", agent: "aurelius" }] });
    const agent = (await (await asInvestor(app.url, "/api/agent")).json()) as { running: boolean; owner: string };
    expect(agent).toMatchObject({ running: true, owner: health.instance.id });
  });

  it("refuses bad input on the controls with 405/400/404 and changes nothing", async () => {
    await post("/api/market/reset");
    const before = await state();
    const get = await fetch(`${app.url}/api/market/crash`);
    expect(get.status).toBe(405);
    for (const body of ["garbage", "{", "[]", '{"status":"CRASHING"}', "null", '"crash"', "x".repeat(5000)]) {
      const res = await post("/api/market/crash", { body, headers: { "Content-Type": "application/json" } });
      expect([400, 413]).toContain(res.status);
      expect((await res.json()).error).toBe("invalid_request");
    }
    const unknown = await post("/api/market/explode");
    expect(unknown.status).toBe(404);
    const foreign = await post("/api/market/crash", { headers: { Origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    expect((await fetch(`${app.url}/api/nothing-here`)).status).toBe(404);
    const after = await state();
    expect(after.market.status).toBe(before.market.status);
    expect(after.market.status).toBe("STABLE");
    expect(after.portfolio).toEqual(before.portfolio);
  });

  it("crashes, stabilizes and resets through POST", async () => {
    const crash = await post("/api/market/crash", { body: "{}", headers: { "Content-Type": "application/json" } });
    expect(crash.status).toBe(200);
    const start = (await crash.json()).market.priceCents as number;
    await new Promise((r) => setTimeout(r, 1200));
    const falling = await state();
    expect(falling.market.status).toBe("CRASHING");
    expect(falling.market.priceCents).toBeLessThan(start);
    expect((await post("/api/market/stabilize")).status).toBe(200);
    expect((await state()).market.status).toBe("STABLE");
    const reset = await (await post("/api/market/reset")).json();
    expect(reset.market).toMatchObject({ status: "STABLE", priceCents: 15000 });
    // The log restarts at the reset: the crash and stabilize entries are gone. (The agent may log
    // its own lines right after, so the reset entry need not be the newest.)
    const s = await state();
    expect(s.activity.map((a) => a.kind)).toContain("demo.reset");
    expect(s.activity.map((a) => a.kind)).not.toContain("market.crash");
    expect(s.activity.map((a) => a.kind)).not.toContain("market.stabilize");
  });

  it("pushes ticks over Server-Sent Events", async () => {
    const controller = new AbortController();
    const res = await fetch(`${app.url}/api/events`, { signal: controller.signal });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    while ((text.match(/event: tick/g) ?? []).length < 3) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    const ticks = [...text.matchAll(/event: tick\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!));
    expect(ticks[0]).toHaveProperty("priceCents");
    expect(new Set(ticks.map((t) => t.at)).size).toBe(ticks.length);
  });

  it("serves robots.txt (no crawling of a local demo) and the icon at /favicon.ico", async () => {
    const robots = await fetch(`${app.url}/robots.txt`);
    expect(robots.status).toBe(200);
    expect(await robots.text()).toMatch(/^User-agent: \*\nDisallow: \/\n$/);
    const favicon = await fetch(`${app.url}/favicon.ico`);
    expect(favicon.status).toBe(200);
    expect(favicon.headers.get("content-type")).toContain("image/svg+xml");
    expect(await favicon.text()).toBe(await (await fetch(`${app.url}/favicon.svg`)).text());
  });

  it("keeps the market, its history and the activity log across a restart", async () => {
    await post("/api/market/crash");
    await new Promise((r) => setTimeout(r, 800));
    const before = await state();
    await app.restart();
    const after = await state();
    expect(after.market.status).toBe("CRASHING");
    expect(after.history.length).toBeGreaterThanOrEqual(before.history.length);
    expect(after.history.slice(0, 3)).toEqual(before.history.slice(0, 3));
    expect(after.activity.map((a) => a.id)).toEqual(expect.arrayContaining(before.activity.map((a) => a.id)));
    expect(after.portfolio).toEqual(before.portfolio);
  });
});
