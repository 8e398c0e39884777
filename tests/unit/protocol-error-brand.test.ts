import { describe, expect, it, vi } from "vitest";

/**
 * Next.js runs route handlers and instrumentation.ts as separate module instances: a
 * ProtocolError thrown by the runtime's objects must still be one to a route's copy of the class,
 * or the route answers 500 instead of the error's own status.
 */
describe("ProtocolError across module instances", () => {
  it("is recognised by another copy of the module, and nothing else is", async () => {
    const first = await import("@/lib/errors");
    vi.resetModules();
    const second = await import("@/lib/errors");
    expect(second.ProtocolError).not.toBe(first.ProtocolError);
    const error = new second.ProtocolError("login_required", "Sign in first.", { status: 401 });
    expect(error instanceof first.ProtocolError).toBe(true);
    expect(new Error("plain") instanceof first.ProtocolError).toBe(false);
    const lookalike: unknown = { code: "login_required", status: 401 };
    expect(lookalike instanceof first.ProtocolError).toBe(false);
  });
});
