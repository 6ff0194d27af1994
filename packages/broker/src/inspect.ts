/**
 * Read-only views of a broker's sessions for admin tools (HTTP admin API, consoles): plain
 * objects, built on demand, never live references into the engine.
 */
import type { QoS } from '@culex/packet'
import { engineOf, type Broker } from './broker.ts'
import type { Transport } from './options.ts'
import type { Session } from './session.ts'

/** A subscription as an admin tool sees it. */
export interface SubscriptionInfo {
  /** Filter as subscribed (with `$share/{group}/` if shared). */
  topic: string
  qos: QoS
  /** No Local, Retain As Published, Retain Handling, Subscription Identifier (0 = none). */
  nl: boolean
  rap: boolean
  rh: 0 | 1 | 2
  subscriptionId: number
}

/** A session (and its connection, if any) as an admin tool sees it. */
export interface SessionInfo {
  clientId: string
  connected: boolean
  /** 3, 4 or 5. */
  protocolVersion: number
  /** Session expiry interval, seconds (0: ends with the connection). */
  expiryInterval: number
  subscriptionCount: number
  /** Present with `withSubscriptions`. */
  subscriptions?: SubscriptionInfo[]
  /** QoS 1/2 deliveries waiting in the connection's queue (0 while offline: those are in the store). */
  queued: number
  /** Sent, not yet acknowledged. */
  inflight: number
  // only while connected:
  username?: string
  remoteAddress?: string
  remotePort?: number
  transport?: Transport
  keepalive?: number
}

function describe (s: Session, withSubscriptions: boolean): SessionInfo {
  const c = s.conn
  const info: SessionInfo = {
    clientId: s.clientId,
    connected: c !== null,
    protocolVersion: c !== null && c.protocolVersion !== 0 ? c.protocolVersion : s.protocolVersion,
    expiryInterval: s.expiryInterval,
    subscriptionCount: s.subs.size,
    queued: c === null ? 0 : c.queuedCount,
    inflight: c === null ? 0 : c.inflightSize()
  }
  if (withSubscriptions) {
    info.subscriptions = [...s.subs.values()].map((sub) => ({ topic: sub.topic, qos: sub.qos, nl: sub.nl, rap: sub.rap, rh: sub.rh, subscriptionId: sub.subId }))
  }
  if (c !== null) {
    const ci = c.info
    if (c.username !== undefined) info.username = c.username
    if (ci.remoteAddress !== undefined) info.remoteAddress = ci.remoteAddress
    if (ci.remotePort !== undefined) info.remotePort = ci.remotePort
    if (ci.transport !== undefined) info.transport = ci.transport
    info.keepalive = c.keepalive
  }
  return info
}

/**
 * List sessions, optionally only those whose client id or username contains `search`
 * (case-insensitive), sorted by client id, at most `limit`.
 *
 * @param options - `search`, `limit` (default 1000), `connected` (only online or offline ones)
 * @returns the matching sessions and how many matched in all
 */
export function listSessions (broker: Broker, options: { search?: string, limit?: number, connected?: boolean } = {}): { total: number, sessions: SessionInfo[] } {
  const needle = options.search?.toLowerCase() ?? ''
  const limit = options.limit ?? 1000
  const hits: Session[] = []
  for (const s of engineOf(broker).sessions.map.values()) {
    if (options.connected !== undefined && (s.conn !== null) !== options.connected) continue
    if (needle !== '' && !s.clientId.toLowerCase().includes(needle) && !(s.conn?.username?.toLowerCase().includes(needle) ?? false)) continue
    hits.push(s)
  }
  hits.sort((a, b) => a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0)
  return { total: hits.length, sessions: hits.slice(0, limit).map((s) => describe(s, false)) }
}

/** One session with its subscriptions, or undefined when there is none for `clientId`. */
export function describeSession (broker: Broker, clientId: string): SessionInfo | undefined {
  const s = engineOf(broker).sessions.get(clientId)
  return s === undefined ? undefined : describe(s, true)
}
