import { afterAll, beforeAll, expect, it } from "vitest";
import { startEmbeddedIdp, type EmbeddedIdp } from "@/lib/idp";
import { useTestDb } from "../helpers/store";
import { cibaParams, inProcessIdpConfig, order, postForm } from "./idp-support";

/**
 * auth_req_id values (CIBA Core §7.3: ≥ 128 bits of entropy, only A-Za-z0-9._-), issued through
 * the real backchannel endpoint. The embedded server runs in-process here (same code the app
 * starts, on an in-memory store) so that its pending limit can be raised for this test alone: the
 * environment caps MAX_PENDING_APPROVALS at 50. The ids come from oidc-provider's own generator
 * (nanoid, 256 bits: formats.bitsOfOpaqueRandomness); tests/attack/auth-req-id-guessing.test.ts
 * checks 10,000 of them for uniqueness and entropy, this one that every request over HTTP gets its
 * own id, approval and mail.
 */
const REQUESTS = 200;
const db = useTestDb();
let idp: EmbeddedIdp;

beforeAll(async () => {
  const config = inProcessIdpConfig("http://localhost:39990");
  idp = await startEmbeddedIdp({ config: { ...config, idp: { ...config.idp, maxPendingPerClientAndUser: REQUESTS } }, db });
});

afterAll(async () => {
  await idp?.stop();
});

it("issues 200 unique, URL-safe auth_req_id values of at least 22 characters, each with its own approval and mail", async () => {
  const url = `http://127.0.0.1:${idp.port}/oidc/backchannel`;
  const ids: string[] = [];
  let started = 0;
  const worker = async () => {
    while (started < REQUESTS) {
      started += 1;
      const res = await postForm(url, cibaParams(order()));
      expect(res.body).toMatchObject({ auth_req_id: expect.any(String) });
      ids.push(res.body.auth_req_id as string);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  expect(ids.length).toBe(REQUESTS);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) {
    expect(id).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(id.length).toBeGreaterThanOrEqual(22);
  }
  // Each request was recorded with its own approval and its own mail.
  const [row] = await db.query<{ n: number; mails: number }>(
    "SELECT count(*)::int AS n, count(DISTINCT mail_id)::int AS mails FROM idp_approvals",
  );
  expect(row).toEqual({ n: ids.length, mails: ids.length });
}, 120_000);
