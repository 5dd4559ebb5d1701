/**
 * Opus in the browser through WebCodecs: 48 kHz mono, one packet per frame of the room's size (20,
 * 40 or 60 ms: the server's --choir-frame-ms), the settings the server's codec shards use (docs/choir.md). Each output is labelled with the room position of its
 * input from a queue: one frame in gives one packet out, one packet in one PCM frame out, in
 * order. Not from the timestamps: Chromium stamps its outputs with the first input's timestamp
 * plus the frames so far, whatever the later inputs said, so after a jump of positions (the clock
 * estimate moved) they would be off by the jump.
 *
 * Opus delays its audio by its look-ahead, CODEC_DELAY_SAMPLES: what decodes from the packet of
 * frame P is the input of [P − delay, P + frame − delay). The page compensates (web/choir.ts).
 */
import { FRAME_SAMPLES, SAMPLE_RATE } from '../../src/apps/choir/room.ts';

/** libopus's look-ahead at 48 kHz (2.5 ms + 4 ms): the same in WebCodecs and in the server's shards. */
export const CODEC_DELAY_SAMPLES = 312;
export const BITRATE = 64_000;

const toMicros = (pos: number) => Math.round((pos * 1_000_000) / SAMPLE_RATE);

const encoderConfig = (frameSamples: number): AudioEncoderConfig => ({
  codec: 'opus', sampleRate: SAMPLE_RATE, numberOfChannels: 1, bitrate: BITRATE,
  opus: { frameDuration: (frameSamples * 1_000_000) / SAMPLE_RATE },
});
const decoderConfig: AudioDecoderConfig = { codec: 'opus', sampleRate: SAMPLE_RATE, numberOfChannels: 1 };

/** Whether this browser can encode and decode Opus with WebCodecs; the reason when not. */
export async function opusSupport(): Promise<string | null> {
  if (typeof AudioEncoder === 'undefined' || typeof AudioDecoder === 'undefined') return 'this browser has no WebCodecs audio (AudioEncoder/AudioDecoder); it needs a secure context (https or localhost)';
  const [e, d] = await Promise.all([AudioEncoder.isConfigSupported(encoderConfig(FRAME_SAMPLES)), AudioDecoder.isConfigSupported(decoderConfig)]);
  if (!e.supported || !d.supported) return 'this browser\'s WebCodecs cannot encode and decode Opus at 48 kHz mono';
  return null;
}

/**
 * Microphone frames in, Opus packets out, each labelled with its frame's position. A codec error
 * (WebCodecs then closes the codec) is reported and a fresh encoder takes over: the frames in
 * flight are lost, the next ones go through.
 */
export class OpusFrameEncoder {
  private encoder: AudioEncoder;
  private readonly positions: number[] = [];

  constructor(readonly frameSamples: number, private readonly onPacket: (pos: number, packet: Uint8Array) => void, private readonly onError: (err: Error) => void) {
    this.encoder = this.open();
  }

  private open(): AudioEncoder {
    const encoder = new AudioEncoder({
      output: (chunk) => {
        const packet = new Uint8Array(chunk.byteLength);
        chunk.copyTo(packet);
        this.onPacket(this.positions.shift()!, packet);
      },
      error: (err) => {
        this.positions.length = 0;
        this.encoder = this.open();
        this.onError(err);
      },
    });
    encoder.configure(encoderConfig(this.frameSamples));
    return encoder;
  }

  encode(pos: number, pcm: Float32Array<ArrayBuffer>): void {
    const data = new AudioData({ format: 'f32', sampleRate: SAMPLE_RATE, numberOfFrames: pcm.length, numberOfChannels: 1, timestamp: toMicros(pos), data: pcm });
    this.positions.push(pos);
    this.encoder.encode(data);
    data.close();
  }

  close(): void {
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}

/**
 * Opus packets of the mix in, PCM out, labelled with the position the packet was read at; errors
 * as the encoder's. `restart()` puts a fresh decoder in for the next packet (the packet before it
 * was missed: web/choir/packet-sequence.ts); the one before finishes what it was given.
 */
export class OpusFrameDecoder {
  private decoder: AudioDecoder;
  /** The positions of the current decoder's packets in flight (each decoder has its own). */
  private positions: number[] = [];

  constructor(private readonly onPcm: (pos: number, pcm: Float32Array) => void, private readonly onError: (err: Error) => void) {
    this.decoder = this.open();
  }

  private open(): AudioDecoder {
    const positions: number[] = [];
    this.positions = positions;
    const decoder: AudioDecoder = new AudioDecoder({
      output: (data) => {
        const pcm = new Float32Array(data.numberOfFrames);
        data.copyTo(pcm, { planeIndex: 0, format: 'f32-planar' });
        this.onPcm(positions.shift()!, pcm);
        data.close();
      },
      error: (err) => {
        positions.length = 0;
        if (this.decoder === decoder) this.decoder = this.open();
        this.onError(err);
      },
    });
    decoder.configure(decoderConfig);
    return decoder;
  }

  decode(pos: number, packet: Uint8Array): void {
    this.positions.push(pos);
    this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: toMicros(pos), data: packet }));
  }

  /** A fresh decoder for the next packet; the current one decodes what it has, then closes. */
  restart(): void {
    const old = this.decoder;
    this.decoder = this.open();
    if (old.state === 'configured') old.flush().then(() => old.close(), () => { /* closed or failed: nothing left to finish */ });
  }

  close(): void {
    if (this.decoder.state !== 'closed') this.decoder.close();
  }
}
