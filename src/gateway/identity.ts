/**
 * Identity tokens: one per browser, issued by the server and signed with HMAC-SHA256, so a user id
 * cannot be forged or chosen. Format: `<userId>.<issuedAtMs>.<base64url signature>`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { VerifiedTokens } from '../util/verified-tokens.ts';

export type TokenCheck = { ok: true; userId: string } | { ok: false; reason: string };

export class IdentityIssuer {
  private readonly key: Buffer;
  /** Tokens whose signature matched lately: a reconnect with the same token skips the HMAC. */
  private readonly verified = new VerifiedTokens();

  constructor(secret: string) {
    if (secret.length < 16) throw new Error('identity secret must be at least 16 characters');
    this.key = Buffer.from(secret, 'utf8');
  }

  issue(nowMs = Date.now()): { userId: string; token: string } {
    const userId = randomBytes(9).toString('base64url');
    const body = `${userId}.${nowMs}`;
    return { userId, token: `${body}.${this.sign(body)}` };
  }

  verify(token: string): TokenCheck {
    if (this.verified.has(token)) return { ok: true, userId: token.slice(0, token.indexOf('.')) };
    const parts = token.split('.');
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]{1,64}$/.test(parts[0]) || !/^\d{1,16}$/.test(parts[1])) {
      return { ok: false, reason: 'token is not of the form <userId>.<issuedAtMs>.<signature>' };
    }
    const expected = Buffer.from(this.sign(`${parts[0]}.${parts[1]}`));
    const given = Buffer.from(parts[2]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: 'token signature does not match; ask /api/identity for a new token' };
    }
    this.verified.add(token);
    return { ok: true, userId: parts[0] };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
