import type Provider from "oidc-provider";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { startEmbeddedIdp, type EmbeddedIdp } from "@/lib/idp";
import { hashedId } from "@/lib/idp/adapter";
import { useTestDb } from "../helpers/store";
import { AGENT_CLIENT_ID, cibaParams, inProcessIdpConfig, order, postForm } from "../integration/idp-support";

/**
 * auth_req_id values cannot be guessed or collide (CIBA Core §7.3: at least 128 bits of entropy,
 * only A-Za-z0-9._-). The embedded server runs in-process, with the app's own configuration and
 * store; the provider it builds is captured so that 10,000 ids can be drawn in-process on
 * oidc-provider's own path (the backchannel request model's generateTokenId, which save() calls
 * for every new request) in well under a second. One more comes from the real backchannel
 * endpoint and must look the same.
 */
const providers = vi.hoisted(() => [] as Provider[]);
vi.mock("oidc-provider", async (importOriginal) => {
  const actual = await importOriginal<typeof import("oidc-provider")>();
  class RecordedProvider extends actual.default {
    constructor(...args: ConstructorParameters<typeof actual.default>) {
      super(...args);
      providers.push(this);
    }
  }
  return { ...actual, default: RecordedProvider };
});

interface Drawable {
  generateTokenId(): string;
}

const COUNT = 10_000;
const CIBA_CHARSET = /^[A-Za-z0-9._-]+$/;
const db = useTestDb();
let idp: EmbeddedIdp;

beforeAll(async () => {
  idp = await startEmbeddedIdp({ config: inProcessIdpConfig("http://localhost:39991"), db });
});

afterAll(async () => {
  await idp?.stop();
});

/** Shannon entropy in bits of the symbols seen, estimated from their frequencies. */
function entropyBits(symbols: string[]): number {
  const counts = new Map<string, number>();
  for (const s of symbols) counts.set(s, (counts.get(s) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / symbols.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

it(`draws ${COUNT.toLocaleString("en")} unique auth_req_id values of ≥ 128 bits from the CIBA charset`, async () => {
  expect(providers).toHaveLength(1);
  const provider = providers[0]!;

  // What save() does for a new request: the model draws its id (jti) with the provider's settings.
  // generateTokenId is oidc-provider's model method, not in its published types.
  const draw = () => (new provider.BackchannelAuthenticationRequest({ clientId: AGENT_CLIENT_ID, accountId: "alice" }) as unknown as Drawable).generateTokenId();
  const ids = Array.from({ length: COUNT }, draw);
  expect(new Set(ids).size).toBe(COUNT);

  const length = ids[0]!.length;
  for (const id of ids) {
    expect(id).toMatch(CIBA_CHARSET);
    expect(id.length).toBe(length);
  }
  // Entropy: every position, estimated over all ids, carries close to log2(64) = 6 bits. The
  // positions are drawn independently (oidc-provider's nanoid), so the id's entropy is their sum.
  const perPosition = Array.from({ length }, (_, i) => entropyBits(ids.map((id) => id[i]!)));
  expect(Math.min(...perPosition)).toBeGreaterThan(5.9);
  const total = perPosition.reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThanOrEqual(128);

  // The real endpoint issues its ids the same way, and stores the request under that id.
  const res = await postForm(`http://127.0.0.1:${idp.port}/oidc/backchannel`, cibaParams(order()));
  expect(res.status).toBe(200);
  const issued = res.body.auth_req_id as string;
  expect(issued).toMatch(CIBA_CHARSET);
  expect(issued.length).toBe(length);
  expect(ids).not.toContain(issued);
  // oidc-provider's row holds it only as its hash (lib/idp/adapter.ts); idp_approvals keeps it in
  // clear to map the decision page to the request (redeeming it also needs the client's credentials).
  const stored = await db.query<{ id: string; payload: unknown }>("SELECT id, payload FROM idp_models WHERE model = 'BackchannelAuthenticationRequest'");
  expect(stored.map((r) => r.id)).toEqual([hashedId(issued)]);
  expect(JSON.stringify(stored)).not.toContain(issued);
}, 60_000);
