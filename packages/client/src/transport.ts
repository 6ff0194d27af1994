/**
 * The transport contract between the client and a byte pipe (TCP, TLS, WebSocket).
 * The client owns framing; a transport only moves bytes and reports events.
 */

/** Callbacks the client gives a transport. */
export interface TransportHandlers {
  /** The pipe is open (TCP connected, TLS handshake done, WebSocket open). */
  onOpen: () => void
  /** Bytes arrived. The buffer is not reused by the transport. */
  onData: (chunk: Buffer) => void
  /** The pipe accepts writes again after `write()` returned false. */
  onDrain: () => void
  /** The pipe closed; `err` when it failed. Called once. */
  onClose: (err?: Error) => void
}

/** A connected (or connecting) byte pipe. */
export interface Transport {
  /** Writes bytes; returns false when the caller should wait for `onDrain`. */
  write: (data: Uint8Array) => boolean
  /** Closes after pending writes are flushed. */
  end: () => void
  /** Closes now. */
  destroy: () => void
}

/** Options handed to a transport factory. */
export interface TransportOptions {
  tls?: Record<string, unknown> | undefined
  wsOptions?: Record<string, unknown> | undefined
  wsProtocol: string
}

/** Opens a transport for `url`. */
export type TransportFactory = (url: URL, opts: TransportOptions, handlers: TransportHandlers) => Transport
