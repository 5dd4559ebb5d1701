/**
 * The tokens a signature check passed for lately, so the same token presented again (a device
 * reconnecting, an ack, a sync after a hello) costs a Set lookup instead of an HMAC: the HMAC was
 * most of a reconnect's own work in the inbox's storm profile (docs/benchmarks-inbox.md). Only the
 * exact string that was verified is remembered, so a forged or altered token still goes to the
 * HMAC and is refused; nothing that failed is remembered. Bounded: past `capacity` the oldest goes
 * (about 100-150 bytes an entry for a 60-80 character token).
 *
 * Only for tokens that stay valid as long as their key does (no expiry or revocation in the token
 * check itself: the callers check what can change, such as a device still being registered).
 */
export class VerifiedTokens {
  private readonly tokens = new Set<string>();

  constructor(private readonly capacity = 65_536) {}

  /** True when `token` passed its check before (and is still remembered). */
  has(token: string): boolean {
    return this.tokens.has(token);
  }

  /** `token` passed its signature check. */
  add(token: string): void {
    if (this.tokens.has(token)) return;
    if (this.tokens.size >= this.capacity) this.tokens.delete(this.tokens.values().next().value!);
    this.tokens.add(token);
  }

  get size(): number {
    return this.tokens.size;
  }
}
