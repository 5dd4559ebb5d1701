/**
 * Which of an encoder's packets a decoder has seen. Opus predicts each packet's band energies from
 * the previous packet's: a decoder that missed one (its reply timed out, a request failed after the
 * server encoded it) decodes the next against a state the encoder never had, and a tone came out up
 * to twice as loud (docs/choir.md "Codec state follows the packets"). A restarted decoder does not
 * (it starts from the mean energies, and converges in a frame). So each request that asks for a mix
 * takes a number, and a mix whose number does not follow the last one decoded goes to a restarted
 * decoder.
 */
export class PacketSequence {
  private taken = 0;
  /** The number of the last packet decoded; NaN before the first: a decoder restarts for it. */
  private decoded = Number.NaN;

  /** The number of the next packet the other end encodes (one per request that asks for a mix). */
  take(): number {
    return ++this.taken;
  }

  /** Records packet `n` as decoded; whether it follows the last one decoded (false: restart the decoder first). */
  follows(n: number): boolean {
    const follows = n === this.decoded + 1;
    this.decoded = n;
    return follows;
  }
}
