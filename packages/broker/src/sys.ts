/**
 * `$SYS` topics: every `sysInterval` seconds the broker publishes Mosquitto 2.0's 54 `$SYS`
 * topics (same names, same meanings where Culex has the same thing; see the README table),
 * plus a few of its own, built from `broker.metrics()`, `broker.stats` and the store's
 * retained count. Load averages are Mosquitto's: each counter's per-minute rate over the last
 * interval, exponentially smoothed over 1, 5 and 15 minutes on the broker's own timer.
 *
 * Alone (a {@link LocalBus}), topics are `$SYS/broker/<name>`, retained, QoS 0.
 *
 * In a cluster (any other bus), each node publishes its own values under
 * `$SYS/broker/nodes/<node id>/<name>`, NOT retained: the retained store is shared by every
 * node, so retained per-node values would outlive their node there. The messages cross the
 * bus like any publish, so a `$SYS/#` subscriber on any node sees every node's values (from
 * the next interval on). The alive node with the lowest id (`bus.aliveNodes()`, no extra
 * coordination) takes the other nodes' values in (an in-process subscription plus a bus route
 * on `$SYS/broker/nodes/#`, from the interval it finds itself lowest; its first totals come
 * one interval later) and publishes the cluster totals retained under
 * `$SYS/broker/cluster/<name>`: the sum of the alive nodes' last values (the maximum for
 * uptime and clients/maximum; the leader's own for version and the retained count, which
 * every node reads from the same store), and `$SYS/broker/cluster/nodes`, how many nodes
 * the totals include. Totals are at most one interval behind.
 *
 * Runs once per interval, never on the message path.
 */
import { createRequire } from 'node:module'
import { engineOf, type Broker } from './broker.ts'
import type { ClockTimer } from './clock.ts'
import { LocalBus } from './local-bus.ts'
import type { BrokerMetrics } from './metrics.ts'
import type { StoredMessage } from './store.ts'

/**
 * Version string published on `$SYS/broker/version`: this package's version, read from its
 * package.json (`../package.json` from both `src/` and the built `dist/`).
 */
export const VERSION = `culex ${(createRequire(import.meta.url)('../package.json') as { version: string }).version}`

/** Smoothing windows of the load averages: topic suffix and seconds. */
const WINDOWS = [['1min', 60], ['5min', 300], ['15min', 900]] as const

/** The counters whose rates are averaged, in the order {@link SysPublisher} reads them. */
const LOAD_NAMES = [
  'messages/received', 'messages/sent',
  'publish/received', 'publish/sent', 'publish/dropped',
  'bytes/received', 'bytes/sent',
  'sockets', 'connections'
] as const

/** How a cluster total is made of the nodes' values. */
type Aggregate = 'sum' | 'max' | 'own'

/**
 * Every topic a node publishes (name under `$SYS/broker/`) and how its cluster total is
 * made. Mosquitto's 54 first, then Culex's own.
 */
const TOPICS: ReadonlyArray<readonly [string, Aggregate]> = [
  ['version', 'own'],
  ['uptime', 'max'],
  ['clients/total', 'sum'],
  ['clients/maximum', 'max'],
  ['clients/connected', 'sum'],
  ['clients/active', 'sum'],
  ['clients/disconnected', 'sum'],
  ['clients/inactive', 'sum'],
  ['clients/expired', 'sum'],
  ['heap/current', 'sum'],
  ['heap/maximum', 'sum'],
  ['messages/stored', 'sum'],
  ['store/messages/count', 'sum'],
  ['store/messages/bytes', 'sum'],
  ['messages/inflight', 'sum'],
  ['subscriptions/count', 'sum'],
  ['shared_subscriptions/count', 'sum'],
  ['retained messages/count', 'own'],
  ['messages/received', 'sum'],
  ['messages/sent', 'sum'],
  ['publish/messages/received', 'sum'],
  ['publish/messages/sent', 'sum'],
  ['publish/messages/dropped', 'sum'],
  ['publish/bytes/received', 'sum'],
  ['publish/bytes/sent', 'sum'],
  ['bytes/received', 'sum'],
  ['bytes/sent', 'sum'],
  ...LOAD_NAMES.flatMap((n) => WINDOWS.map(([w]) => [`load/${n}/${w}`, 'sum'] as const)),
  // Culex's own
  ['connections/open', 'sum'],
  ['clients/refused', 'sum'],
  ['clients/auth_failures', 'sum'],
  ['messages/queued', 'sum'],
  ['publish/messages/rejected', 'sum']
]
const AGGREGATE = new Map<string, Aggregate>(TOPICS)

/** Names (under `$SYS/broker/`) of every topic one broker publishes, in publication order. */
export const SYS_TOPICS: readonly string[] = TOPICS.map(([name]) => name)

const NODES_PREFIX = '$SYS/broker/nodes/'
const CLUSTER_PREFIX = '$SYS/broker/cluster/'

/** A node id as one topic level (`/`, `+`, `#` and U+0000 cannot be in a topic level). */
export function nodeLevel (id: string): string {
  let out = ''
  for (const ch of id) out += ch === '/' || ch === '+' || ch === '#' || ch === '\u0000' ? '_' : ch
  return out
}

/**
 * @internal Mosquitto's load averages for a set of counters: at each `update(counters, now)`
 * the per-minute rate since the previous update, smoothed as
 * `load = rate + e^(-Δt / window) · (load - rate)` per window (1, 5, 15 min); the first
 * update starts each load at its rate (as Mosquitto does).
 */
export class LoadAverage {
  readonly #last: Float64Array
  readonly #load: Float64Array
  #lastAt: number
  #initial = true

  /**
   * @param size - number of counters
   * @param startedAt - ms time the counters were 0
   */
  constructor (size: number, startedAt: number) {
    this.#last = new Float64Array(size)
    this.#load = new Float64Array(size * WINDOWS.length)
    this.#lastAt = startedAt
  }

  /**
   * Take in the counters' values at `now` (ms); returns the loads, per counter its 1, 5 and 15
   * minute values (messages per minute). An update at the same ms as the last one changes nothing.
   */
  update (counters: ArrayLike<number>, now: number): Float64Array {
    const dt = (now - this.#lastAt) / 1000
    if (dt <= 0) return this.#load
    for (let i = 0; i < this.#last.length; i++) {
      const rate = (counters[i]! - this.#last[i]!) * 60 / dt
      this.#last[i] = counters[i]!
      for (let w = 0; w < WINDOWS.length; w++) {
        const k = i * WINDOWS.length + w
        this.#load[k] = this.#initial ? rate : rate + Math.exp(-dt / WINDOWS[w]![1]) * (this.#load[k]! - rate)
      }
    }
    this.#initial = false
    this.#lastAt = now
    return this.#load
  }
}

/** The last values received from one other node. */
interface NodeValues {
  values: Map<string, number>
}

/** @internal Publishes the `$SYS` tree of one broker on a timer. */
export class SysPublisher {
  readonly #broker: Broker
  readonly #timer: ClockTimer
  readonly #clustered: boolean
  readonly #prefix: string
  readonly #level: string
  readonly #loads: LoadAverage
  readonly #counters = new Float64Array(LOAD_NAMES.length)
  /** CONNECT packets accepted (refused ones are in metrics().auth.connectsRefused). */
  #accepted = 0
  readonly #onClient = (): void => { this.#accepted++ }
  #heapMax = 0
  /** Cluster: other nodes' last values, by node level. */
  readonly #peers = new Map<string, NodeValues>()
  #unsubscribe: (() => void) | null = null
  /** This node's last numbers (cluster totals read them). */
  #own = new Map<string, number>()
  #running = false

  /**
   * @param broker - the broker to describe
   * @param everySeconds - seconds between publications (on the broker's clock)
   */
  constructor (broker: Broker, everySeconds: number) {
    this.#broker = broker
    this.#clustered = !(broker.bus instanceof LocalBus)
    this.#level = nodeLevel(broker.id)
    this.#prefix = this.#clustered ? `${NODES_PREFIX}${this.#level}/` : '$SYS/broker/'
    this.#loads = new LoadAverage(LOAD_NAMES.length, broker.stats.startedAt)
    broker.on('client', this.#onClient)
    this.#timer = broker.clock.setInterval(() => {
      if (this.#running) return // a slow store: skip a beat rather than pile up
      this.#running = true
      this.publish()
        .catch((err: unknown) => { if (!broker.closed) broker.storeError('publishing $SYS', err) })
        .finally(() => { this.#running = false })
    }, everySeconds * 1000)
    this.#timer.unref()
  }

  stop (): void {
    this.#broker.clock.clearInterval(this.#timer)
    this.#broker.off('client', this.#onClient)
    this.#gather(false)
  }

  /**
   * Take the other nodes' values in (`on`), or stop. Only the node that publishes the totals
   * does: the others pay no in-process subscription on their message path and, on a bus with
   * a route table, receive no other node's `$SYS`.
   */
  #gather (on: boolean): void {
    if (on === (this.#unsubscribe !== null)) return
    if (on) {
      this.#unsubscribe = this.#broker.subscribe(`${NODES_PREFIX}#`, (m) => { this.#fromNode(m) }, { qos: 0 })
      this.#broker.bus.addRoute?.(`${NODES_PREFIX}#`)
      return
    }
    this.#unsubscribe!()
    this.#unsubscribe = null
    this.#broker.bus.removeRoute?.(`${NODES_PREFIX}#`)
    this.#peers.clear()
  }

  /** Every value of this node now: [name, payload, number] in {@link SYS_TOPICS} order. */
  async values (): Promise<Array<[string, string, number]>> {
    const b = this.#broker
    const now = this.#broker.clock.now()
    const m: BrokerMetrics = b.metrics()
    const st = b.stats
    const retained = await b.store.countRetained()
    let shared = 0
    let queuedBytes = 0
    for (const s of engineOf(b).sessions.map.values()) {
      for (const topic of s.subs.keys()) if (topic.startsWith('$share/')) shared++
      if (s.conn !== null) queuedBytes += s.conn.queuedBytes
    }
    const heap = process.memoryUsage().heapUsed
    if (heap > this.#heapMax) this.#heapMax = heap
    const sum = (a: readonly number[]): number => a[0]! + a[1]! + a[2]!
    const publishReceived = sum(m.publish.received)
    const publishSent = sum(m.publish.sent)
    const c = this.#counters
    c[0] = m.packets.received
    c[1] = m.packets.sent
    c[2] = publishReceived
    c[3] = publishSent
    c[4] = m.dropped.total
    c[5] = m.bytes.received
    c[6] = m.bytes.sent
    c[7] = m.connections.total
    c[8] = this.#accepted + m.auth.connectsRefused
    const loads = this.#loads.update(c, now)
    const uptime = Math.floor(Math.max(0, now - st.startedAt) / 1000)
    const inflight = m.inflightOut + m.inflightIn
    const stored = retained + m.queued + m.inflightOut
    const n = (name: string, v: number): [string, string, number] => [name, String(v), v]
    const out: Array<[string, string, number]> = [
      ['version', VERSION, 0],
      ['uptime', `${uptime} seconds`, uptime],
      n('clients/total', m.connections.connected + m.sessions.offline),
      n('clients/maximum', m.connections.maximum),
      n('clients/connected', m.connections.connected),
      n('clients/active', m.connections.connected),
      n('clients/disconnected', m.sessions.offline),
      n('clients/inactive', m.sessions.offline),
      n('clients/expired', engineOf(b).counters.sessionsExpired),
      n('heap/current', heap),
      n('heap/maximum', this.#heapMax),
      n('messages/stored', stored),
      n('store/messages/count', stored),
      n('store/messages/bytes', queuedBytes),
      n('messages/inflight', inflight),
      n('subscriptions/count', m.subscriptions),
      n('shared_subscriptions/count', shared),
      n('retained messages/count', retained),
      n('messages/received', m.packets.received),
      n('messages/sent', m.packets.sent),
      n('publish/messages/received', publishReceived),
      n('publish/messages/sent', publishSent),
      n('publish/messages/dropped', m.dropped.total),
      n('publish/bytes/received', sum(m.publish.receivedBytes)),
      n('publish/bytes/sent', sum(m.publish.sentBytes)),
      n('bytes/received', m.bytes.received),
      n('bytes/sent', m.bytes.sent)
    ]
    for (let i = 0; i < LOAD_NAMES.length; i++) {
      for (let w = 0; w < WINDOWS.length; w++) {
        const v = loads[i * WINDOWS.length + w]!
        out.push([`load/${LOAD_NAMES[i]!}/${WINDOWS[w]![0]}`, v.toFixed(2), v])
      }
    }
    out.push(
      n('connections/open', m.connections.open),
      n('clients/refused', m.auth.connectsRefused),
      n('clients/auth_failures', m.auth.failures),
      n('messages/queued', m.queued),
      n('publish/messages/rejected', st.publishRejected)
    )
    return out
  }

  /** Publish every topic once now (and, on the cluster's lowest alive node, the totals). */
  async publish (): Promise<void> {
    const b = this.#broker
    const values = await this.values()
    const own = new Map<string, number>()
    for (const [name, payload, v] of values) {
      own.set(name, v)
      if (b.closed) return
      await b.publish({ topic: this.#prefix + name, payload, qos: 0, retain: !this.#clustered })
    }
    this.#own = own
    if (this.#clustered) await this.#publishTotals(values)
  }

  /** A value from another node (an in-process subscription on `$SYS/broker/nodes/#`). */
  #fromNode (m: StoredMessage): void {
    const topic = m.topic
    const end = topic.indexOf('/', NODES_PREFIX.length)
    if (end < 0) return
    const level = topic.slice(NODES_PREFIX.length, end)
    if (level === this.#level) return
    const name = topic.slice(end + 1)
    if (!AGGREGATE.has(name)) return // only known names: the map stays bounded
    const v = Number.parseFloat(m.payload.toString())
    if (!Number.isFinite(v)) return
    let node = this.#peers.get(level)
    if (node === undefined) {
      node = { values: new Map() }
      this.#peers.set(level, node)
    }
    node.values.set(name, v)
  }

  async #publishTotals (values: Array<[string, string, number]>): Promise<void> {
    const b = this.#broker
    if (b.closed) return
    const alive = (await b.bus.aliveNodes()).map(nodeLevel)
    if (b.closed) return // stopped meanwhile: gather nothing
    // forget nodes that left: their last values must not count any more
    for (const level of this.#peers.keys()) if (!alive.includes(level)) this.#peers.delete(level)
    // the lowest alive id; a node missing from the alive set (its heartbeat late) is not it
    let leader: string | null = null
    for (const level of alive) if (leader === null || level < leader) leader = level
    if (leader !== this.#level) {
      this.#gather(false)
      return
    }
    if (this.#unsubscribe === null) {
      // just became the one: totals from the next interval on, once the others' values came in
      this.#gather(true)
      return
    }
    const nodes: Array<Map<string, number>> = [this.#own]
    for (const level of alive) {
      const node = this.#peers.get(level)
      if (level !== this.#level && node !== undefined) nodes.push(node.values)
    }
    const out: Array<[string, string]> = [['nodes', String(nodes.length)]]
    for (const [name, payload, mine] of values) {
      const how = AGGREGATE.get(name)!
      if (how === 'own') {
        out.push([name, payload])
        continue
      }
      let total = how === 'max' ? mine : 0
      for (const node of nodes) {
        const v = node.get(name) ?? 0
        total = how === 'max' ? Math.max(total, v) : total + v
      }
      const text = name.startsWith('load/') ? total.toFixed(2) : String(total)
      out.push([name, name === 'uptime' ? `${text} seconds` : text])
    }
    for (const [name, payload] of out) {
      if (b.closed) return
      await b.publish({ topic: CLUSTER_PREFIX + name, payload, qos: 0, retain: true })
    }
  }
}
