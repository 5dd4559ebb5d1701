/**
 * Which of an encoder's packets a decoder has seen. Opus predicts each packet's band energies from
 * the previous packet's: a decoder that missed one (its reply timed out, a request failed after the
 * server encoded it) decodes the next against a state the encoder never had, and a tone came out up
 * to twice as loud (docs/choir.md "Codec state follows the packets"). A restarted decoder does not
 * (it starts from the mean energies, and converges in a frame). So each request that asks for a mix
 * takes a number, and a mix whose number does not follow the last one decoded goes to a restarted
 * decoder. Likewise a mix whose codec epoch (the reply's `codecEpoch`) is not the last one's: the
 * singer's codec shard restarted on the server, and a fresh encoder made it (docs/choir.md "Shard
 * restarts"); no number is missed then, but the decoder's state is the old encoder's.
 *
 * No audio here: the page and Node clients (tests) share it.
 */
export class PacketSequence {
  private taken = 0;
  /** The number of the last packet decoded; NaN before the first: a decoder restarts for it. */
  private decoded = Number.NaN;
  /** The codec epoch of the last packet decoded (undefined: a server that does not say). */
  private epoch: number | undefined = undefined;

  /** The number of the next packet the other end encodes (one per request that asks for a mix). */
  take(): number {
    return ++this.taken;
  }

  /**
   * Records packet `n`, made in codec epoch `epoch`, as decoded; whether it follows the last one
   * decoded (false: restart the decoder first).
   */
  follows(n: number, epoch?: number): boolean {
    const follows = n === this.decoded + 1 && epoch === this.epoch;
    this.decoded = n;
    this.epoch = epoch;
    return follows;
  }
}
