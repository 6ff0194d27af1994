/**
 * The local side of a bridge: an MQTT 5 session in this broker, reached in process.
 *
 * Each bridge's `@culex/client` connects to the engine through an in-memory pipe
 * ({@link localTransport}: `broker.handle` on one end, the client's transport on the other),
 * with a client id derived from the bridge name ({@link bridgeClientId}), Clean Start 0 and
 * a session that never expires. Its subscriptions make the engine queue what is meant for
 * the remote like for any persistent session — in the store (LevelDB, Redis, MongoDB) while
 * it is offline, and, with `persistInflight` (the default), while it is connected — so the
 * messages survive a culex restart.
 *
 * Those sessions skip the password file, the ACL and plugins (the config's mappings decide
 * what crosses a bridge, as before), and their ids are reserved: a CONNECT with such an id
 * that does not come through the pipe is refused (0x85) before any other hook runs
 * ({@link guardBridgeSessions}). Without bridges nothing here is installed.
 */
import { Duplex } from 'node:stream'
import type { Broker, BrokerHooks, Client as EngineClient } from '@culex/broker'
import type { TransportFactory } from '@culex/client'
import type { BridgeSpec } from './bridge-config.ts'

/** The client id of a bridge's local session. */
export function bridgeClientId (name: string): string {
  return `$culex-bridge/${name}`
}

/** The reserved ids, and the engine connections that came through a bridge pipe. */
export interface BridgeAccess {
  readonly ids: ReadonlySet<string>
  readonly trusted: WeakSet<EngineClient>
}

/** The access record of `specs` (no ids without bridges). */
export function bridgeAccess (specs: readonly BridgeSpec[]): BridgeAccess {
  return { ids: new Set(specs.map(s => bridgeClientId(s.name))), trusted: new WeakSet() }
}

type GuardedHooks = Pick<BrokerHooks, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeRead' | 'authorizeReadFilter' | 'authorizeForward'>

const RESERVED = { reasonCode: 0x85, reasonString: 'client identifier reserved for a bridge' }

/**
 * Let the bridges' local sessions through every hook, and refuse their ids to anyone else.
 * Only hook kinds that exist are wrapped; with no bridges, `hooks` is returned as is.
 */
export function guardBridgeSessions<H extends GuardedHooks> (hooks: H, access: BridgeAccess): H {
  const { ids: reserved, trusted } = access
  if (reserved.size === 0) return hooks
  // every reserved id starts with '$': other ids are told apart by one char code (per delivery)
  const ids = { has: (id: string): boolean => id.charCodeAt(0) === 0x24 && reserved.has(id) }
  const out: H = { ...hooks }
  const pre = hooks.preConnect
  // always installed: an impostor must be refused before authenticate could let it in
  out.preConnect = (client, packet) => {
    if (ids.has(packet.clientId)) return trusted.has(client) ? true : RESERVED
    return pre === undefined ? true : pre(client, packet)
  }
  const auth = hooks.authenticate
  if (auth !== undefined) out.authenticate = (client, username, password) => trusted.has(client) ? true : auth(client, username, password)
  // past CONNECT a reserved id can only belong to a bridge pipe (also when offline: queueing)
  const pub = hooks.authorizePublish
  if (pub !== undefined) out.authorizePublish = (client, packet) => ids.has(client.id) ? true : pub(client, packet)
  const sub = hooks.authorizeSubscribe
  if (sub !== undefined) out.authorizeSubscribe = (client, s) => ids.has(client.id) ? true : sub(client, s)
  const read = hooks.authorizeRead
  if (read !== undefined) out.authorizeRead = (client, topic) => ids.has(client.id) || read(client, topic)
  const readFilter = hooks.authorizeReadFilter
  if (readFilter !== undefined) out.authorizeReadFilter = (client, filter) => ids.has(client.id) || readFilter(client, filter)
  const forward = hooks.authorizeForward
  if (forward !== undefined) out.authorizeForward = (client, m) => ids.has(client.id) ? m : forward(client, m)
  return out
}

/**
 * A transport for `@culex/client` that hands one end of an in-memory pipe to
 * `broker.handle` (transport `other`, no address). Bytes from the engine reach the client
 * on the next tick, never inside the engine's own write; the client's writes are pushed to
 * the engine, with `write()` returning false (then `onDrain`) while the engine is not reading.
 */
export function localTransport (broker: Broker, access: BridgeAccess): TransportFactory {
  return (_url, _opts, h) => {
    let closed = false
    let blocked = false
    const close = (err?: Error): void => {
      if (closed) return
      closed = true
      h.onClose(err)
    }
    const pipe = new Duplex({
      allowHalfOpen: false,
      read () {
        if (!blocked) return
        blocked = false
        h.onDrain()
      },
      write (chunk: Buffer, _enc, cb) {
        process.nextTick(() => {
          if (!closed) h.onData(chunk)
          cb()
        })
      },
      final (cb) {
        cb()
        close()
      },
      destroy (err, cb) {
        cb(err)
        close(err ?? undefined)
      }
    })
    pipe.on('error', () => {})
    access.trusted.add(broker.handle(pipe, { transport: 'other' }))
    process.nextTick(() => { if (!closed) h.onOpen() })
    return {
      write (data) {
        if (closed) return true
        const ok = pipe.push(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength))
        if (!ok) blocked = true
        return ok
      },
      end () {
        if (!closed) pipe.push(null)
      },
      destroy () {
        pipe.destroy()
      }
    }
  }
}
