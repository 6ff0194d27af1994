/**
 * Counters the engine keeps beyond {@link BrokerStats}, and the read-only snapshot
 * `broker.metrics()` builds from both (for Prometheus, `$SYS`, consoles).
 *
 * The counters are plain numbers in typed arrays indexed by QoS, bumped on the hot path with
 * one add each (no allocation, no call). The snapshot walks the sessions once (online,
 * offline, queue depth, inflight): O(sessions) per call, meant for a scrape every few
 * seconds, not per message.
 */
import type { BrokerStats } from './broker.ts'
import type { StoreTimings } from './timed-store.ts'

/** Why a delivery or a retained message was dropped. */
export interface DropCounts {
  /** QoS 0 to a client whose socket is backed up (`maxBufferedBytes`). */
  backedUp: number
  /** Larger than the client's Maximum Packet Size [MQTT-3.1.2-25]. */
  tooLarge: number
  /** Oldest entry dropped from a connected client's full queue (`maxQueuedMessages`). */
  queueFull: number
  /** Message expiry interval passed while queued [MQTT-3.3.2-5]. */
  expired: number
  /** A new retained topic over `maxRetained`. */
  retainedLimit: number
  /** Dropped from a full offline queue: 0 since stores never drop (an offline session past `maxStoredMessages` ends instead, see `stats.sessionsOverflowed`). */
  offlineQueueFull: number
}

/** @internal Counters bumped by the engine; read through {@link Broker.metrics}. */
export class Counters {
  /** PUBLISH packets received from clients, by QoS. */
  readonly publishIn = new Float64Array(3)
  /** Payload bytes of those, by QoS. */
  readonly payloadIn = new Float64Array(3)
  /** PUBLISH packets sent to clients, by QoS. */
  readonly publishOut = new Float64Array(3)
  /** Bytes of those packets on the wire, by QoS. */
  readonly bytesOut = new Float64Array(3)
  readonly drops: DropCounts = { backedUp: 0, tooLarge: 0, queueFull: 0, expired: 0, retainedLimit: 0, offlineQueueFull: 0 }
  /** CONNECTs refused for bad credentials or not authorized (0x86, 0x87). */
  authFailures = 0
  /** CONNECTs refused for any reason (auth failures included). */
  connectsRefused = 0
  /** Persistent sessions ended because their Session Expiry Interval passed while offline. */
  sessionsExpired = 0
}

/** Three numbers, one per QoS level (index 0, 1, 2). */
export type PerQos = [qos0: number, qos1: number, qos2: number]

/** A snapshot of a broker's state and counters (`broker.metrics()`). Counters only grow. */
export interface BrokerMetrics {
  /** Seconds since the broker was created. */
  uptimeSeconds: number
  connections: {
    /** Open connections, including those not yet past CONNECT. */
    open: number
    /** Clients past CONNACK. */
    connected: number
    /** Highest `connected` seen. */
    maximum: number
    /** Connections accepted since start (counter). */
    total: number
  }
  sessions: {
    /** Sessions with a connected client. */
    online: number
    /** Persistent sessions whose client is away. */
    offline: number
  }
  /** Subscriptions of MQTT sessions (shared members included). */
  subscriptions: number
  /** In-process subscribers (`broker.subscribe`). */
  localSubscriptions: number
  /** MQTT packets of any type (counters). */
  packets: { received: number, sent: number }
  /** Bytes on the wire (counters). */
  bytes: { received: number, sent: number }
  publish: {
    /** PUBLISH packets from clients, by QoS (counter). */
    received: PerQos
    /** Payload bytes of those, by QoS (counter). */
    receivedBytes: PerQos
    /** PUBLISH packets to clients, by QoS (counter). */
    sent: PerQos
    /** Wire bytes of those, by QoS (counter). */
    sentBytes: PerQos
  }
  /** Dropped deliveries and retained messages (counters); `total` is their sum. */
  dropped: DropCounts & { total: number }
  /** QoS 1/2 deliveries waiting in connected clients' queues (not yet sent). */
  queued: number
  /** Longest such queue. */
  queuedMax: number
  /** QoS 1/2 deliveries sent to connected clients and not yet acknowledged. */
  inflightOut: number
  /** QoS 1/2 PUBLISHes received and not yet acknowledged to their senders. */
  inflightIn: number
  auth: {
    /** CONNECTs refused for credentials or authorization (counter). */
    failures: number
    /** CONNECTs refused for any reason (counter). */
    connectsRefused: number
  }
  /** Latency histograms of the store's operations; present with `storeMetrics: true`. */
  storeOperations?: StoreTimings
}

/** @internal what a snapshot reads of a connection */
export interface ConnectionView {
  readonly queuedCount: number
  inflightSize: () => number
  inUnacked: number
}

/** @internal what a snapshot reads of a session */
export interface SessionView {
  conn: ConnectionView | null
}

const perQos = (a: Float64Array): PerQos => [a[0]!, a[1]!, a[2]!]

/** @internal Build the snapshot. */
export function snapshot (stats: BrokerStats, counters: Counters, sessions: Iterable<SessionView>, open: number,
  subscriptions: number, localSubscriptions: number, now: number, storeOperations?: StoreTimings): BrokerMetrics {
  let online = 0
  let offline = 0
  let queued = 0
  let queuedMax = 0
  let inflightOut = 0
  let inflightIn = 0
  for (const s of sessions) {
    const c = s.conn
    if (c === null) {
      offline++
      continue
    }
    online++
    const q = c.queuedCount
    queued += q
    if (q > queuedMax) queuedMax = q
    inflightOut += c.inflightSize()
    inflightIn += c.inUnacked
  }
  const d = counters.drops
  const m: BrokerMetrics = {
    uptimeSeconds: Math.max(0, (now - stats.startedAt) / 1000),
    connections: { open, connected: stats.clientsConnected, maximum: stats.clientsMaximum, total: stats.connectionsTotal },
    sessions: { online, offline },
    subscriptions,
    localSubscriptions,
    packets: { received: stats.messagesReceived, sent: stats.messagesSent },
    bytes: { received: stats.bytesReceived, sent: stats.bytesSent },
    publish: {
      received: perQos(counters.publishIn),
      receivedBytes: perQos(counters.payloadIn),
      sent: perQos(counters.publishOut),
      sentBytes: perQos(counters.bytesOut)
    },
    dropped: { ...d, total: stats.publishDropped },
    queued,
    queuedMax,
    inflightOut,
    inflightIn,
    auth: { failures: counters.authFailures, connectsRefused: counters.connectsRefused }
  }
  if (storeOperations !== undefined) m.storeOperations = storeOperations
  return m
}
