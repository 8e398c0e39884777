import "server-only";
import { randomBytes } from "node:crypto";
import { compactDecrypt, CompactEncrypt } from "jose";
import { z } from "zod";
import type { Queryable } from "../store/db";
import { beginDraw, deleteSealedGrant, endDraw, insertSealedGrant, listSealedGrants } from "../store/mandate-grants";
import { StockTradeMandateDetail } from "../standing-mandate/mandate";

/**
 * Where the agent keeps the grant of Alice's standing mandate between restarts: the grant's
 * refresh token and the mandate it was granted for, sealed as a compact JWE (RFC 7516, `dir` with
 * A256GCM, by jose) under a 256-bit key generated once and kept in app_secrets beside the
 * session-sealing key, shared by every instance that may run the agent. No row holds the token in
 * clear; a sealed value names its mandate and agent inside the authenticated ciphertext, so a row
 * copied onto another mandate does not open.
 *
 * The authorization server rotates this refresh token on every use. A draw is therefore marked in
 * the row before the token is presented, and the rotated token replaces the spent one in the same
 * statement that clears the mark (mandate-grants.ts endDraw). A row still marked after a crash may
 * hold a spent token: the agent lets the mandate go rather than present it.
 */
const KEY_NAME = "mandate_grant_key";
const ALGORITHMS = { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] };

const Sealed = z.strictObject({ agent_sub: z.string(), mandate: StockTradeMandateDetail, refresh_token: z.string().min(1) });

export interface HeldGrant {
  mandate: StockTradeMandateDetail;
  refreshToken: string;
}

/** A hold the agent could not keep, and why (in words for the activity log). */
/** The store holds no hold to draw from now: revoked, expired, or another draw is in flight. */
export class GrantNotHeld extends Error {
  constructor() {
    super("the standing mandate's grant is no longer held (revoked, expired, or being drawn from elsewhere)");
  }
}

export interface DroppedGrant {
  mandateId: string;
  why: string;
}

/** The vault's key: made once on the store (first writer wins), the same for every instance. */
async function grantKey(db: Queryable): Promise<Uint8Array> {
  await db.query("INSERT INTO app_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [KEY_NAME, JSON.stringify(randomBytes(32).toString("base64url"))]);
  const [row] = await db.query<{ value: string }>("SELECT value FROM app_secrets WHERE name = $1", [KEY_NAME]);
  const key = Buffer.from(row!.value, "base64url");
  if (key.length !== 32) throw new Error(`app_secrets ${KEY_NAME} is not a 256-bit key`);
  return key;
}

export class MandateGrantVault {
  private key: Promise<Uint8Array> | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly agentSub: string,
  ) {}

  /** Seals and stores the hold; false when the mandate was revoked meanwhile (nothing stored). */
  async keep(grant: HeldGrant): Promise<boolean> {
    return insertSealedGrant(this.db, this.agentSub, grant.mandate.mandate_id, await this.seal(grant));
  }

  /**
   * After a start: the hold on the mandate that still stands, if any. Holds of mandates revoked or
   * expired are deleted quietly; holds that cannot be trusted (a draw was cut off, the seal does
   * not open) are deleted and returned in `dropped`.
   */
  async restore(): Promise<{ held?: HeldGrant; dropped: DroppedGrant[] }> {
    const dropped: DroppedGrant[] = [];
    let held: HeldGrant | undefined;
    for (const row of await listSealedGrants(this.db, this.agentSub)) {
      const drop = async (why?: string) => {
        await deleteSealedGrant(this.db, this.agentSub, row.mandateId);
        if (why) dropped.push({ mandateId: row.mandateId, why });
      };
      if (row.mandateStatus !== "granted" || row.mandateExpiresAt.getTime() <= Date.now() || held) {
        await drop();
        continue;
      }
      if (row.drawingSince) {
        await drop("the app stopped while a token was being drawn from its grant, so the refresh token stored may be spent and is not presented again");
        continue;
      }
      const opened = await this.open(row.mandateId, row.sealed);
      if (!opened) await drop("its sealed grant does not open with this store's key for this agent and mandate");
      else held = opened;
    }
    return { held, dropped };
  }

  /**
   * Draws one token from the grant: marks the draw, opens the stored refresh token, calls `use`
   * with it, and stores the rotated one while clearing the mark. GrantNotHeld when there is nothing
   * to draw from; any other failure deletes the hold (the token may have been spent by a draw
   * whose answer was lost) and rethrows.
   */
  async draw<T extends { refreshToken?: string }>(mandateId: string, use: (refreshToken: string) => Promise<T>): Promise<T> {
    const sealed = await beginDraw(this.db, this.agentSub, mandateId);
    if (!sealed) throw new GrantNotHeld();
    const grant = await this.open(mandateId, sealed);
    if (!grant) {
      await deleteSealedGrant(this.db, this.agentSub, mandateId);
      throw new Error("the standing mandate's sealed grant does not open");
    }
    let token: T;
    try {
      token = await use(grant.refreshToken);
    } catch (error) {
      await deleteSealedGrant(this.db, this.agentSub, mandateId);
      throw error;
    }
    const rotated = token.refreshToken && token.refreshToken !== grant.refreshToken ? await this.seal({ ...grant, refreshToken: token.refreshToken }) : undefined;
    if (!(await endDraw(this.db, this.agentSub, mandateId, rotated))) throw new Error("the standing mandate was revoked while a token was drawn");
    return token;
  }

  /** Deletes the hold (the agent lets the mandate go). */
  drop(mandateId: string): Promise<void> {
    return deleteSealedGrant(this.db, this.agentSub, mandateId);
  }

  private async seal(grant: HeldGrant): Promise<string> {
    const plaintext = new TextEncoder().encode(JSON.stringify({ agent_sub: this.agentSub, mandate: grant.mandate, refresh_token: grant.refreshToken }));
    return new CompactEncrypt(plaintext).setProtectedHeader({ alg: "dir", enc: "A256GCM", cty: "mandate-grant" }).encrypt(await this.keyOnce());
  }

  /** The hold sealed in `sealed`, when it opens and names this agent and this mandate. */
  private async open(mandateId: string, sealed: string): Promise<HeldGrant | undefined> {
    try {
      const { plaintext } = await compactDecrypt(sealed, await this.keyOnce(), ALGORITHMS);
      const parsed = Sealed.safeParse(JSON.parse(new TextDecoder().decode(plaintext)));
      if (!parsed.success || parsed.data.agent_sub !== this.agentSub || parsed.data.mandate.mandate_id !== mandateId) return undefined;
      return { mandate: parsed.data.mandate, refreshToken: parsed.data.refresh_token };
    } catch {
      return undefined;
    }
  }

  private keyOnce(): Promise<Uint8Array> {
    this.key ??= grantKey(this.db).catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return this.key;
  }
}
