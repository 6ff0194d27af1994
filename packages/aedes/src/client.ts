/**
 * `AedesClient`: the Aedes `Client` view of one Culex connection, handed to hooks and
 * events. One per connection, created by `aedes.handle()`.
 */
import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Client } from '@culex/broker'
import { AedesError } from './errors.ts'

/** The Aedes `Client` shape over a Culex connection. */
export class AedesClient extends EventEmitter {
  /** The `Aedes` instance this client belongs to. */
  readonly broker: unknown
  /** The stream given to `aedes.handle`. */
  readonly conn: Duplex
  /** The HTTP upgrade request given to `aedes.handle` (WebSocket), if any. */
  readonly req: IncomingMessage | undefined
  /** Clean session flag of the CONNECT (true until CONNECT arrived). */
  clean = true
  /** True once the connection is closed. */
  closed = false
  /** True between CONNECT passing `preConnect` and CONNACK (or refusal). */
  connecting = false
  /** @internal preConnect passed: errors from now on are `clientError`, before it `connectionError` */
  registered = false
  readonly #c: Client

  /** @internal */
  constructor (broker: unknown, engineClient: Client, conn: Duplex, req: IncomingMessage | undefined) {
    super()
    this.broker = broker
    this.#c = engineClient
    this.conn = conn
    this.req = req
  }

  /** The Culex engine's view of this client (`@culex/broker` `Client`). */
  get engineClient (): Client {
    return this.#c
  }

  /** Client id; null until CONNECT was processed (as in Aedes). */
  get id (): string | null {
    const id = this.#c.id
    return id === '' ? null : id
  }

  /** Protocol level 3, 4 or 5; null until CONNECT. */
  get version (): number | null {
    const v = this.#c.protocolVersion
    return v === 0 ? null : v
  }

  /** True between CONNACK and the end of the connection. */
  get connected (): boolean {
    return this.#c.connected
  }

  /** Username from CONNECT, if any. */
  get username (): string | undefined {
    return this.#c.username
  }

  /** Keepalive in effect, seconds. */
  get keepalive (): number {
    return this.#c.keepalive
  }

  /**
   * Close the connection (5.0 clients get DISCONNECT 0x98 Administrative action first).
   * `callback` runs once the stream is closed.
   */
  close (callback?: () => void): void {
    if (callback !== undefined) {
      if (this.closed || this.conn.destroyed) queueMicrotask(callback)
      else this.conn.once('close', callback)
    }
    this.#c.close()
  }

  /** Not available over the Culex engine (see MIGRATION.md): calls back with `AEDES_ERR_UNSUPPORTED`. */
  publish (_packet: unknown, callback?: (err?: Error) => void): void {
    unsupported('client.publish', callback)
  }

  /** Not available over the Culex engine (see MIGRATION.md): calls back with `AEDES_ERR_UNSUPPORTED`. */
  subscribe (_subs: unknown, callback?: (err?: Error) => void): void {
    unsupported('client.subscribe', callback)
  }

  /** Not available over the Culex engine (see MIGRATION.md): calls back with `AEDES_ERR_UNSUPPORTED`. */
  unsubscribe (_subs: unknown, callback?: (err?: Error) => void): void {
    unsupported('client.unsubscribe', callback)
  }

  /** Not available over the Culex engine (see MIGRATION.md): calls back with `AEDES_ERR_UNSUPPORTED`. */
  emptyOutgoingQueue (callback?: (err?: Error) => void): void {
    unsupported('client.emptyOutgoingQueue', callback)
  }
}

function unsupported (what: string, callback: ((err?: Error) => void) | undefined): void {
  const err = new AedesError('AEDES_ERR_UNSUPPORTED', `${what} is not available over the Culex engine (see @culex/aedes MIGRATION.md)`)
  if (callback === undefined) throw err
  queueMicrotask(() => { callback(err) })
}
