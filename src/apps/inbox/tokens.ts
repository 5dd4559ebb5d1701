/**
 * Device tokens and the publisher key. A device token is `<id>.<signature>`: the device's id (16
 * hex digits) and HMAC-SHA256(device secret, "inbox-device:" + id) in base64url, so a token cannot
 * be forged or moved to another id, and verifying one needs no lookup. The publisher key is a
 * Bearer secret compared in constant time.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BrigadeError } from '../../protocol/index.ts';
import { HttpError } from '../../core/index.ts';
import { VerifiedTokens } from '../../util/verified-tokens.ts';
import './errors.ts';

export function newId(): string {
  return randomBytes(8).toString('hex');
}

export class DeviceTokens {
  private readonly key: Buffer;
  /** Tokens whose signature matched lately: a device reconnecting with its token skips the HMAC. */
  private readonly verified = new VerifiedTokens();

  constructor(secret: string) {
    if (secret.length < 16) throw new Error('inbox device secret must be at least 16 characters');
    this.key = Buffer.from(secret, 'utf8');
  }

  issue(id: string): string {
    return `${id}.${this.sign(id)}`;
  }

  /** The device id a token names; throws INBOX_BAD_DEVICE_TOKEN when it is malformed or forged. */
  verify(token: unknown): string {
    if (typeof token === 'string' && this.verified.has(token)) return token.slice(0, 16);
    const m = typeof token === 'string' ? /^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/.exec(token) : null;
    if (!m) throw new BrigadeError('INBOX_BAD_DEVICE_TOKEN', 'a device token is <16 hex digits>.<43 base64url characters>, as POST /api/inbox/devices returned it');
    const expected = Buffer.from(this.sign(m[1]));
    if (!timingSafeEqual(Buffer.from(m[2]), expected)) {
      throw new BrigadeError('INBOX_BAD_DEVICE_TOKEN', 'the device token\'s signature does not match; register the device again');
    }
    this.verified.add(token as string);
    return m[1];
  }

  private sign(id: string): string {
    return createHmac('sha256', this.key).update('inbox-device:' + id).digest('base64url');
  }
}

/** `Authorization: Bearer <token>` of a request, or ''. */
export function bearer(header: string | string[] | undefined): string {
  const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1] : '';
}

/** Checks the publisher key; throws 401 INBOX_BAD_KEY. */
export function checkKey(given: string, key: string): void {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(key).digest();
  if (!given || !timingSafeEqual(a, b)) {
    throw new HttpError(401, 'INBOX_BAD_KEY', "the inbox publisher API needs 'Authorization: Bearer <publisher key>' (--inbox-publisher-key, or DATA/inbox-publisher-key); it was missing or wrong");
  }
}
