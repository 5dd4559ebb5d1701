/**
 * Types for the parts of the (untyped) `bittorrent-tracker/client` package the demo page uses.
 * The package ships no declarations; these follow its README and client.js (v11).
 */
declare module 'bittorrent-tracker/client' {
  /** A simple-peer connection, as the client emits it on 'peer'. */
  export interface TrackerPeer {
    /** The remote peer_id, hex. */
    id: string;
    connected: boolean;
    destroyed: boolean;
    send(data: string | Uint8Array): void;
    destroy(err?: Error): void;
    on(event: 'connect' | 'close', fn: () => void): this;
    on(event: 'data', fn: (data: Uint8Array | string) => void): this;
    on(event: 'error', fn: (err: Error) => void): this;
    once(event: 'connect' | 'close', fn: () => void): this;
  }

  export interface AnnounceUpdate {
    announce: string;
    infoHash: string;
    complete: number;
    incomplete: number;
  }

  export interface ClientOptions {
    /** 20 bytes, hex or bytes. */
    infoHash: string | Uint8Array;
    peerId: string | Uint8Array;
    announce: string | string[];
    rtcConfig?: RTCConfiguration;
    getAnnounceOpts?: () => Record<string, unknown>;
  }

  export default class Client {
    constructor(opts: ClientOptions);
    readonly peerId: string;
    readonly infoHash: string;
    start(opts?: Record<string, unknown>): void;
    stop(opts?: Record<string, unknown>): void;
    complete(opts?: Record<string, unknown>): void;
    update(opts?: Record<string, unknown>): void;
    scrape(opts?: Record<string, unknown>): void;
    destroy(cb?: (err?: Error) => void): void;
    on(event: 'peer', fn: (peer: TrackerPeer) => void): this;
    on(event: 'update', fn: (data: AnnounceUpdate) => void): this;
    on(event: 'scrape', fn: (data: AnnounceUpdate & { downloaded: number }) => void): this;
    on(event: 'error' | 'warning', fn: (err: Error) => void): this;
  }
}
