/**
 * Bridges: this broker connected to remote brokers as an MQTT client (`@culex/client`),
 * topics mapped in, out or both ways (see bridge-config.ts for the options).
 *
 * - **out** (local → remote): an in-process subscription (`broker.subscribe`) per mapping
 *   hands each routed message to the client, which publishes it at the mapping's QoS and
 *   keeps it (resending after reconnects) until the remote acknowledged it. The local
 *   publisher's PUBACK does not wait for the remote: once routed, the message is held in
 *   this process's memory, at most `queueLimit` of them; past that, or when the process
 *   stops, such messages are dropped, logged and counted (`culex_bridge_dropped_total`).
 * - **in** (remote → local): the remote subscriptions deliver to `broker.publish`, and the
 *   client's PUBACK / PUBREC to the remote waits until `broker.publish` resolved (stored and
 *   routed). A persistent session on the remote (Clean Session 0 / Clean Start 0 with a
 *   Session Expiry Interval) keeps what arrives there while the bridge is away.
 * - **loops**: messages a bridge publishes locally are not sent back out over that same
 *   bridge; on MQTT 5 the remote subscriptions use No Local, so what the bridge published
 *   there does not come back in. MQTT 3.1.1 has no No Local: a topic mapped out whose
 *   remote topic an in mapping also covers comes back once (use distinct prefixes there).
 * - **state**: `$SYS/broker/bridges/<name>/state` (retained, `1` connected / `0` not), the
 *   log, and the `culex_bridge_*` metrics.
 */
import { readFileSync } from 'node:fs'
import { Client, backoffDelay, matchTopic, isClientError, type Message } from '@culex/client'
import { isBrokerError, type Broker, type StoredMessage } from '@culex/broker'
import type { PublishProperties } from '@culex/packet'
import type { Logger } from 'pino'
import { AppError } from './errors.ts'
import type { BridgeSpec, BridgeTopic } from './bridge-config.ts'

/** Counters and state of one bridge (read by the metrics registry). */
export interface BridgeStats {
  name: string
  connected: boolean
  /** Messages received from the remote and published locally. */
  messagesIn: number
  /** Messages acknowledged by the remote (QoS 1/2) or written (QoS 0). */
  messagesOut: number
  /** Messages not bridged, by direction (queue full, refused by the remote, invalid locally). */
  droppedIn: number
  droppedOut: number
  /** Messages taken for the remote and not yet acknowledged. */
  pending: number
  /** Successful connections (the first one included). */
  connects: number
  errors: number
  lastError: string | undefined
}

/** Engine error codes that will fail again on every resend: log, count, acknowledge. */
const PERMANENT = new Set(['BROKER_ERR_TOPIC_INVALID'])

/** TLS files of each bridge, read before anything starts. @throws AppError CULEX_ERR_BRIDGE */
export function readBridgeTls (spec: BridgeSpec): { ca?: Buffer, cert?: Buffer, key?: Buffer, rejectUnauthorized: boolean } {
  const read = (k: 'ca' | 'cert' | 'key'): Buffer | undefined => {
    const p = spec.tls[k]
    if (p === undefined) return undefined
    try {
      return readFileSync(p)
    } catch (err) {
      throw new AppError('CULEX_ERR_BRIDGE', `bridge ${spec.name} tls.${k}: expected a readable PEM file, got ${p} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { option: 'bridges', cause: err })
    }
  }
  const ca = read('ca')
  const cert = read('cert')
  const key = read('key')
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }), rejectUnauthorized: spec.tls.rejectUnauthorized }
}

/** One running bridge. */
export class Bridge {
  readonly spec: BridgeSpec
  readonly #broker: Broker
  readonly #log: Logger
  readonly #tls: ReturnType<typeof readBridgeTls>
  readonly #in: BridgeTopic[]
  readonly #stats: BridgeStats
  #client: Client | undefined
  #unsubscribe: Array<() => void> = []
  /** True while this bridge publishes locally: its own out handlers skip that message. */
  #inbound = false
  #closed = false
  #attempt = 0
  #retry: NodeJS.Timeout | undefined
  #lastState: string | undefined
  /** Out messages whose client failed its first connect: sent again through the next one. */
  readonly #everConnected = new WeakSet<Client>()
  #backlog: Array<{ topic: string, m: StoredMessage, props: PublishProperties | undefined }> = []

  constructor (spec: BridgeSpec, broker: Broker, logger: Logger) {
    this.spec = spec
    this.#broker = broker
    this.#log = logger.child({ bridge: spec.name })
    this.#tls = readBridgeTls(spec)
    this.#in = spec.topics.filter(t => t.direction !== 'out')
    this.#stats = { name: spec.name, connected: false, messagesIn: 0, messagesOut: 0, droppedIn: 0, droppedOut: 0, pending: 0, connects: 0, errors: 0, lastError: undefined }
  }

  /** A copy of the counters. */
  stats (): BridgeStats {
    return { ...this.#stats }
  }

  /** Subscribe locally, then connect (retrying with backoff until the first success). */
  start (): void {
    for (const t of this.spec.topics) {
      if (t.direction === 'in') continue
      const local = t.localPrefix + t.pattern
      const cut = t.localPrefix.length
      const remotePrefix = t.remotePrefix
      this.#unsubscribe.push(this.#broker.subscribe(local, (m) => { this.#out(m, remotePrefix + m.topic.slice(cut)) }, { qos: t.qos }))
    }
    this.#setState(false)
    this.#connect()
  }

  #connect (): void {
    if (this.#closed) return
    const s = this.spec
    const client = new Client({
      url: s.url,
      protocolVersion: s.protocolVersion,
      clientId: s.clientId,
      clean: false,
      keepalive: s.keepalive,
      ...(s.username === undefined ? {} : { username: s.username }),
      ...(s.password === undefined ? {} : { password: s.password }),
      ...(s.protocolVersion === 5 ? { properties: { sessionExpiryInterval: s.sessionExpiry } } : {}),
      reconnect: { initialDelay: s.reconnect.initialDelay, maxDelay: s.reconnect.maxDelay, factor: 2, jitter: 0.5 },
      // the bridge subscribes itself on every connect
      resubscribe: false,
      offlineQueueLimit: s.queueLimit,
      tls: this.#tls,
      handleMessage: (m) => this.#onRemote(m)
    })
    this.#client = client
    const backlog = this.#backlog
    this.#backlog = []
    for (const b of backlog) this.#send(client, b.topic, b.m, b.props)
    client.on('connect', ({ sessionPresent }) => {
      this.#attempt = 0
      this.#everConnected.add(client)
      this.#stats.connects++
      this.#log.info({ url: s.url, sessionPresent }, `bridge ${s.name}: connected`)
      this.#setState(true)
      this.#subscribeRemote(client)
    })
    client.on('offline', () => {
      if (this.#closed) return
      this.#log.warn({ url: s.url, err: this.#stats.lastError }, `bridge ${s.name}: disconnected, reconnecting`)
      this.#setState(false)
    })
    client.on('error', (err) => { this.#error(err) })
    client.connect().catch((err: unknown) => {
      // a first connect that fails closes that client: start a new one after a backoff
      this.#error(err)
      this.#setState(false)
      if (this.#closed) return
      const delay = backoffDelay(this.#attempt++, { initialDelay: s.reconnect.initialDelay, maxDelay: s.reconnect.maxDelay, factor: 2, jitter: 0.5 })
      this.#log.warn({ url: s.url, err: this.#stats.lastError, retryInMs: delay }, `bridge ${s.name}: cannot connect`)
      this.#retry = setTimeout(() => { this.#retry = undefined; this.#connect() }, delay)
      this.#retry.unref()
    })
  }

  #subscribeRemote (client: Client): void {
    if (this.#in.length === 0) return
    const v5 = this.spec.protocolVersion === 5
    const filters: Record<string, { qos: 0 | 1 | 2, nl?: boolean, rap?: boolean }> = {}
    for (const t of this.#in) {
      // No Local: what this bridge publishes there (any out mapping) does not come back in (MQTT 5 only)
      filters[t.remotePrefix + t.pattern] = v5 ? { qos: t.qos, nl: true, rap: true } : { qos: t.qos }
    }
    client.subscribe(filters).then((sub) => {
      sub.close() // messages come through handleMessage; the stream is not needed
      const refused = sub.granted.filter(g => g.qos >= 0x80)
      if (refused.length > 0) this.#error(new Error(`remote refused subscriptions ${refused.map(g => `${g.topic} (0x${g.qos.toString(16)})`).join(', ')}`))
    }, (err: unknown) => { this.#error(err) })
  }

  /** A remote message: publish locally; the client acknowledges once this resolves. */
  #onRemote (m: Message): Promise<void> | undefined {
    let t: BridgeTopic | undefined
    for (const x of this.#in) if (matchTopic(x.remotePrefix + x.pattern, m.topic)) { t = x; break }
    if (t === undefined) return undefined // a subscription of an older config: nothing to map
    const topic = t.localPrefix + m.topic.slice(t.remotePrefix.length)
    const qos = (m.qos < t.qos ? m.qos : t.qos)
    let props: PublishProperties | undefined
    if (m.properties !== undefined) {
      const { topicAlias: _a, subscriptionIdentifier: _s, ...rest } = m.properties
      props = rest
    }
    let p: Promise<void>
    this.#inbound = true
    try {
      p = this.#broker.publish({ topic, payload: m.payload, qos, retain: m.retain, ...(props === undefined ? {} : { properties: props }) })
    } finally {
      this.#inbound = false
    }
    return p.then(() => { this.#stats.messagesIn++ }, (err: unknown) => {
      if (isBrokerError(err) && PERMANENT.has(err.code)) {
        // would fail on every resend: acknowledge, log and count it
        this.#stats.droppedIn++
        this.#log.warn({ topic, err: (err as Error).message }, `bridge ${this.spec.name}: message from the remote not publishable here, dropped`)
        return
      }
      this.#error(err)
      throw err // not acknowledged: the remote sends it again after the reconnect
    })
  }

  /** A local message for the remote. */
  #out (m: StoredMessage, topic: string): void {
    if (this.#inbound) return // came in over this bridge
    const client = this.#client
    const st = this.#stats
    if (client === undefined || this.#closed || st.pending >= this.spec.queueLimit) {
      st.droppedOut++
      this.#log.warn({ topic: m.topic, pending: st.pending }, `bridge ${this.spec.name}: ${this.#closed ? 'closing' : 'queue full (queueLimit)'}, message for the remote dropped`)
      return
    }
    let props: PublishProperties | undefined
    if (this.spec.protocolVersion === 5 && m.properties !== undefined) {
      props = { ...m.properties }
      if (m.expiresAt !== undefined) {
        const left = Math.ceil((m.expiresAt - Date.now()) / 1000)
        if (left <= 0) return
        props.messageExpiryInterval = left
      }
    }
    st.pending++
    this.#send(client, topic, m, props)
  }

  /** Publish to the remote; a message caught by a failed first connect waits for the next client. */
  #send (client: Client, topic: string, m: StoredMessage, props: PublishProperties | undefined): void {
    const st = this.#stats
    client.publish(topic, m.payload, { qos: m.qos, retain: m.retain, ...(props === undefined ? {} : { properties: props }) }).then(() => {
      st.pending--
      st.messagesOut++
    }, (err: unknown) => {
      if (!this.#closed && !this.#everConnected.has(client) && isClientError(err) && err.code === 'CLIENT_ERR_CLIENT_CLOSED') {
        // this client failed its first connect and is replaced: keep the message for the next one
        if (client === this.#client) this.#backlog.push({ topic, m, props })
        else this.#send(this.#client!, topic, m, props)
        return
      }
      st.pending--
      st.droppedOut++
      this.#error(err)
      this.#log.warn({ topic, err: (err as Error).message }, `bridge ${this.spec.name}: message for the remote dropped`)
    })
  }

  #error (err: unknown): void {
    const msg = isClientError(err) ? `${err.code}: ${err.message}` : (err as Error)?.message ?? String(err)
    this.#stats.errors++
    this.#stats.lastError = msg
    this.#log.debug({ err: msg }, `bridge ${this.spec.name}: error`)
  }

  #setState (up: boolean): void {
    this.#stats.connected = up
    const v = up ? '1' : '0'
    if (v === this.#lastState) return
    this.#lastState = v
    this.#broker.publish({ topic: `$SYS/broker/bridges/${this.spec.name}/state`, payload: v, qos: 0, retain: true }).catch(() => {})
  }

  /** Stop: unsubscribe locally, DISCONNECT from the remote. Unacknowledged out messages are dropped (counted). */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#retry)
    for (const u of this.#unsubscribe) u()
    this.#unsubscribe = []
    if (this.#stats.pending > 0) this.#log.warn({ pending: this.#stats.pending }, `bridge ${this.spec.name}: closing with messages the remote has not acknowledged`)
    await this.#client?.end().catch(() => {})
    this.#stats.connected = false
    this.#setState(false)
  }
}

/** Start every bridge of the config; a failing remote never stops the broker. */
export function startBridges (specs: readonly BridgeSpec[], broker: Broker, logger: Logger): Bridge[] {
  const log = logger.child({ component: 'bridge' })
  const bridges = specs.map(s => new Bridge(s, broker, log))
  for (const b of bridges) b.start()
  return bridges
}
