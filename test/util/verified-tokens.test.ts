/**
 * Token checks with the memory of tokens verified lately (util/verified-tokens.ts): a token seen
 * valid is accepted again without its HMAC, and nothing else is: forged, altered or another key's
 * tokens are refused however often a valid one was checked, before and after the memory is full.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdentityIssuer } from '../../src/gateway/identity.ts';
import { DeviceTokens, newId } from '../../src/apps/inbox/tokens.ts';
import { VerifiedTokens } from '../../src/util/verified-tokens.ts';

/** The token with the last character of its signature changed. */
const altered = (token: string) => token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');

describe('verified tokens', () => {
  it('remembers at most its capacity, the oldest going first', () => {
    const v = new VerifiedTokens(3);
    for (const t of ['a', 'b', 'c', 'd']) v.add(t);
    assert.equal(v.size, 3);
    assert.equal(v.has('a'), false);
    assert.deepEqual(['b', 'c', 'd'].map((t) => v.has(t)), [true, true, true]);
  });

  it('identity: a token verified once is accepted again with the same user; forged ones are refused before and after', () => {
    const issuer = new IdentityIssuer('identity-secret-0123456789');
    const other = new IdentityIssuer('another-secret-0123456789');
    const { userId, token } = issuer.issue();
    const forgedBefore = issuer.verify(altered(token));
    assert.equal(forgedBefore.ok, false);
    for (let i = 0; i < 3; i++) assert.deepEqual(issuer.verify(token), { ok: true, userId });
    assert.equal(issuer.verify(altered(token)).ok, false, 'an altered signature is still refused');
    assert.equal(issuer.verify(`${userId}.1.${token.split('.')[2]}`).ok, false, 'the signature on another issue time is refused');
    assert.equal(issuer.verify(other.issue().token).ok, false, 'another key\'s token is refused');
    assert.equal(other.verify(token).ok, false, 'a token is remembered per issuer, not for every key');
    assert.equal(issuer.verify(token + '.').ok, false);
  });

  it('inbox device tokens: the same, and an id is never moved to another signature', () => {
    const tokens = new DeviceTokens('device-secret-0123456789');
    const id = newId();
    const token = tokens.issue(id);
    assert.equal(tokens.verify(token), id);
    assert.equal(tokens.verify(token), id, 'again, remembered');
    assert.throws(() => tokens.verify(altered(token)), { code: 'INBOX_BAD_DEVICE_TOKEN' });
    const otherId = newId();
    assert.throws(() => tokens.verify(`${otherId}.${token.slice(17)}`), { code: 'INBOX_BAD_DEVICE_TOKEN' }, 'a verified signature on another id');
    assert.throws(() => tokens.verify(new DeviceTokens('another-secret-0123456').issue(id)), { code: 'INBOX_BAD_DEVICE_TOKEN' });
    assert.throws(() => tokens.verify(42), { code: 'INBOX_BAD_DEVICE_TOKEN' });
  });
});
