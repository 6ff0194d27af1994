/**
 * Bridges: this broker connected to remote brokers as an MQTT client (`@culex/client`),
 * topics mapped in, out or both ways (see bridge-config.ts for the options).
 *
 * - **out** (local → remote): each bridge holds a persistent MQTT 5 session in this broker
 *   (bridge-local.ts, client id `$culex-bridge/<name>`), subscribed to the out mappings at
 *   their QoS. The engine queues what matches in that session — in the store while it is
 *   offline — and the bridge acknowledges each message locally only once the remote
 *   acknowledged it. The local session is connected while the remote is: a remote that is
 *   down, or a culex that is down, leaves the messages in the session (and the store), and
 *   they are sent once both are back. A resend of a message already with the remote client
 *   (after a local reconnect) is not sent twice.
 * - **in** (remote → local): the remote subscriptions deliver through the same local session
 *   (a local publish), and the client's PUBACK / PUBREC to the remote waits until the local
 *   PUBACK / PUBREC (stored and routed). A persistent session on the remote (Clean Session
 *   0 / Clean Start 0 with a Session Expiry Interval) keeps what arrives there while the
 *   bridge is away.
 * - **loops**: messages a bridge publishes locally are not sent back out over that same
 *   bridge (its local subscriptions use No Local); on MQTT 5 the remote subscriptions use No Local, so what the bridge published
 *   there does not come back in. MQTT 3.1.1 has no No Local: a topic mapped out whose
 *   remote topic an in mapping also covers comes back once (use distinct prefixes there).
 * - **state**: `$SYS/broker/bridges/<name>/state` (retained, `1` connected / `0` not), the
 *   log, and the `culex_bridge_*` metrics.
 */
import { readFileSync } from 'node:fs'
import { Client, backoffDelay, isClientError, type Message } from '@culex/client'
import type { Broker } from '@culex/broker'
import { matches, validateTopic } from '@culex/trie'
import type { PublishProperties } from '@culex/packet'
import type { Logger } from 'pino'
import { AppError } from './errors.ts'
import type { BridgeSpec, BridgeTopic } from './bridge-config.ts'
import { bridgeAccess, bridgeClientId, localTransport, type BridgeAccess } from './bridge-local.ts'

/** Counters and state of one bridge (read by the metrics registry). */
export interface BridgeStats {
  name: string
  connected: boolean
  /** Messages received from the remote and published locally. */
  messagesIn: number
  /** Messages acknowledged by the remote (QoS 1/2) or written (QoS 0). */
  messagesOut: number
  /** Messages not bridged, by direction (refused by the remote for good, invalid locally). */
  droppedIn: number
  droppedOut: number
  /** Messages handed to the remote and not yet acknowledged by it. */
  pending: number
  /** Successful connections (the first one included). */
  connects: number
  errors: number
  lastError: string | undefined
}

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

/** An out message handed to the remote, by the local packet id it came with. */
interface Sent {
  /** local topic and payload: a resend (DUP) of the same message matches them */
  topic: string
  payload: Buffer
  /** settles once the remote acknowledged it (or it was dropped) */
  done: Promise<void>
  /** the local connection it came on (see #localConn) */
  conn: number
}

/** Local PUBACK / PUBREC reason codes after which the same message may succeed later. */
const TRANSIENT_REASONS = new Set([0x80, 0x97])

/** True when sending the message again may work (so it must not be acknowledged). */
function transient (err: unknown): boolean {
  if (!isClientError(err)) return true
  if (err.code === 'CLIENT_ERR_PUBLISH_FAILED') return TRANSIENT_REASONS.has(err.reasonCode ?? 0x80)
  return !PERMANENT_CLIENT.has(err.code)
}
const PERMANENT_CLIENT = new Set(['CLIENT_ERR_INVALID_TOPIC', 'CLIENT_ERR_INVALID_OPTION', 'CLIENT_ERR_PACKET_TOO_LARGE', 'CLIENT_ERR_NOT_SUPPORTED'])

/** One running bridge. */
export class Bridge {
  readonly spec: BridgeSpec
  /** Client id of the local session (`$culex-bridge/<name>`). */
  readonly localId: string
  readonly #broker: Broker
  readonly #access: BridgeAccess
  readonly #log: Logger
  readonly #tls: ReturnType<typeof readBridgeTls>
  readonly #in: BridgeTopic[]
  readonly #out: BridgeTopic[]
  readonly #stats: BridgeStats
  /** the remote connection */
  #client: Client | undefined
  /** the local session's connection: open while the remote one is */
  #local: Client | undefined
  /** local CONNACKs so far: tells whether the connection a message came on is still the current one */
  #localConn = 0
  #localStarted = false
  /** out messages not yet acknowledged locally, so a resend after a local reconnect is not sent twice */
  readonly #sent = new Map<number, Sent>()
  #closed = false
  #attempt = 0
  #retry: NodeJS.Timeout | undefined
  #lastState: string | undefined

  constructor (spec: BridgeSpec, broker: Broker, logger: Logger, access: BridgeAccess = bridgeAccess([spec])) {
    this.spec = spec
    this.localId = bridgeClientId(spec.name)
    this.#broker = broker
    this.#access = access
    this.#log = logger.child({ bridge: spec.name })
    this.#tls = readBridgeTls(spec)
    this.#in = spec.topics.filter(t => t.direction !== 'out')
    this.#out = spec.topics.filter(t => t.direction !== 'in')
    this.#stats = { name: spec.name, connected: false, messagesIn: 0, messagesOut: 0, droppedIn: 0, droppedOut: 0, pending: 0, connects: 0, errors: 0, lastError: undefined }
  }

  /** A copy of the counters. */
  stats (): BridgeStats {
    return { ...this.#stats }
  }

  /**
   * Open the local session and subscribe it (so the engine queues for the remote from now
   * on), and connect to the remote (retrying with backoff until the first success). The
   * local session then stays connected while the remote is.
   *
   * @returns resolves once the local subscriptions are in place (or failed: logged)
   */
  start (): Promise<void> {
    this.#setState(false)
    this.#connect()
    this.#startLocal()
    return this.#localReady
  }

  #localReady: Promise<void> = Promise.resolve()
  /** Resolves once the local session's subscriptions are in place (or failed). */
  get localReady (): Promise<void> {
    return this.#localReady
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
    client.on('connect', ({ sessionPresent }) => {
      this.#attempt = 0
      this.#stats.connects++
      this.#log.info({ url: s.url, sessionPresent }, `bridge ${s.name}: connected`)
      this.#setState(true)
      this.#subscribeRemote(client)
      this.#startLocal()
    })
    client.on('offline', () => {
      if (this.#closed) return
      this.#log.warn({ url: s.url, err: this.#stats.lastError }, `bridge ${s.name}: disconnected, reconnecting`)
      this.#setState(false)
      // what arrives for the remote meanwhile waits in the local session (in the store)
      this.#stopLocal()
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

  /** Open the local session (Clean Start 0, never expires) and subscribe the out mappings with No Local. */
  #startLocal (): void {
    if (this.#closed || this.#local !== undefined) return
    const local = new Client({
      url: 'mqtt://culex.local',
      protocolVersion: 5,
      clientId: this.localId,
      clean: false,
      keepalive: 0,
      properties: { sessionExpiryInterval: 0xFFFFFFFF, receiveMaximum: Math.min(this.spec.queueLimit, 65535) },
      reconnect: { initialDelay: 50, maxDelay: 2000, factor: 2, jitter: 0.5 },
      resubscribe: false,
      topicAliases: false,
      offlineQueueLimit: 65535,
      transport: localTransport(this.#broker, this.#access),
      handleMessage: (m) => this.#toRemote(m)
    })
    this.#local = local
    let ready: () => void = () => {}
    this.#localReady = new Promise<void>((resolve) => { ready = resolve })
    local.on('connect', ({ sessionPresent }) => {
      this.#localConn++
      if (!sessionPresent) {
        this.#sent.clear()
        // a session that existed before (in this process) and is gone: the engine ended it
        if (this.#localStarted) this.#log.warn({ clientId: this.localId }, `bridge ${this.spec.name}: the local session was not resumed (ended by the broker); messages queued in it for the remote were discarded`)
      }
      this.#localStarted = true
      this.#log.debug({ clientId: this.localId, sessionPresent }, `bridge ${this.spec.name}: local session connected`)
      // with the remote down, the session only needed its subscriptions: it waits offline
      const subscribed = (): void => {
        ready()
        if (this.#client?.connected !== true && this.#local === local) this.#stopLocal()
      }
      if (this.#out.length === 0) { subscribed(); return }
      const filters: Record<string, { qos: 0 | 1 | 2, nl: boolean, rap: boolean, rh: 2 }> = {}
      // No Local: what this bridge publishes locally (in mappings) is not sent back out;
      // Retain As Published keeps the retain flag; no retained messages on subscribe
      for (const t of this.#out) filters[t.localPrefix + t.pattern] = { qos: t.qos, nl: true, rap: true, rh: 2 }
      local.subscribe(filters).then((sub) => {
        sub.close()
        const refused = sub.granted.filter(g => g.qos >= 0x80)
        if (refused.length > 0) this.#error(new Error(`local subscriptions refused: ${refused.map(g => `${g.topic} (0x${g.qos.toString(16)})`).join(', ')}`))
        subscribed()
      }, (err: unknown) => {
        this.#error(err)
        ready()
      })
    })
    local.on('error', (err) => { this.#error(err) })
    local.connect().catch((err: unknown) => {
      // refused or failed before its first CONNACK (e.g. maxConnections): try again shortly
      this.#error(err)
      ready()
      if (this.#local !== local) return
      this.#log.warn({ err: this.#stats.lastError }, `bridge ${this.spec.name}: local session not connected, retrying`)
      this.#local = undefined
      const retry = setTimeout(() => { if (this.#client?.connected === true || !this.#localStarted) this.#startLocal() }, 500)
      retry.unref()
    })
  }

  #stopLocal (): void {
    const local = this.#local
    if (local === undefined) return
    this.#local = undefined
    local.end().catch(() => {})
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

  /** A remote message: publish it locally through the local session; the remote gets its ack once that is acknowledged. */
  #onRemote (m: Message): Promise<void> | undefined {
    let t: BridgeTopic | undefined
    for (const x of this.#in) if (matches(x.remotePrefix + x.pattern, m.topic)) { t = x; break }
    if (t === undefined) return undefined // a subscription of an older config: nothing to map
    const topic = t.localPrefix + m.topic.slice(t.remotePrefix.length)
    const qos = (m.qos < t.qos ? m.qos : t.qos)
    const bad = validateTopic(topic, this.#broker.topicLimits)
    if (bad !== null) return this.#dropIn(topic, bad.message)
    const local = this.#local
    if (local === undefined) return Promise.reject(new Error('the local session is not open'))
    let props: PublishProperties | undefined
    if (m.properties !== undefined) {
      const { topicAlias: _a, subscriptionIdentifier: _s, ...rest } = m.properties
      props = rest
    }
    return local.publish(topic, m.payload, { qos, retain: m.retain, ...(props === undefined ? {} : { properties: props }) }).then(() => { this.#stats.messagesIn++ }, (err: unknown) => {
      // would fail on every resend: acknowledge, log and count it
      if (!transient(err)) return this.#dropIn(topic, (err as Error).message)
      this.#error(err)
      throw err // not acknowledged: the remote sends it again after the reconnect
    })
  }

  #dropIn (topic: string, why: string): undefined {
    this.#stats.droppedIn++
    this.#log.warn({ topic, err: why }, `bridge ${this.spec.name}: message from the remote not publishable here, dropped`)
    return undefined
  }

  /**
   * A message of the local session for the remote. The local PUBACK / PUBREC waits for the
   * remote's acknowledgement: until then the engine keeps the message in the session.
   */
  #toRemote (m: Message): Promise<void> | undefined {
    let t: BridgeTopic | undefined
    for (const x of this.#out) if (matches(x.localPrefix + x.pattern, m.topic)) { t = x; break }
    if (t === undefined) return undefined // a subscription of an older config: acknowledged, not sent
    const remote = this.#client
    if (remote?.connected !== true || this.#closed) {
      // the remote went away: stop taking messages, they wait in the session
      this.#stopLocal()
      return Promise.reject(new Error(this.#closed ? 'bridge closing' : 'the remote is not connected'))
    }
    const id = m.messageId
    if (m.qos > 0 && id !== undefined) {
      const prev = this.#sent.get(id)
      // a resend after a local reconnect of what is already with the remote client: wait for that one
      if (prev !== undefined && m.dup && prev.topic === m.topic && prev.payload.equals(m.payload)) return prev.done
    }
    const topic = t.remotePrefix + m.topic.slice(t.localPrefix.length)
    let props: PublishProperties | undefined
    if (this.spec.protocolVersion === 5 && m.properties !== undefined) {
      const { topicAlias: _a, subscriptionIdentifier: _s, ...rest } = m.properties
      props = rest
    }
    const st = this.#stats
    st.pending++
    const conn = this.#localConn
    const done = remote.publish(topic, m.payload, { qos: m.qos, retain: m.retain, ...(props === undefined ? {} : { properties: props }) }).then(() => {
      st.pending--
      st.messagesOut++
      this.#settled(id, conn)
    }, (err: unknown) => {
      st.pending--
      if (id !== undefined && this.#sent.get(id)?.done === done) this.#sent.delete(id)
      if (transient(err) || this.#closed) {
        this.#error(err)
        throw err // not acknowledged locally: the engine sends it again
      }
      st.droppedOut++
      this.#error(err)
      this.#log.warn({ topic, err: (err as Error).message }, `bridge ${this.spec.name}: message refused by the remote, dropped`)
    })
    if (m.qos > 0 && id !== undefined) this.#sent.set(id, { topic: m.topic, payload: m.payload, done, conn })
    return done
  }

  /** The remote acknowledged: forget the message unless its local ack can no longer go out. */
  #settled (id: number | undefined, conn: number): void {
    if (id === undefined) return
    // the local connection it came on is gone: the engine will resend it (DUP) and it is
    // acknowledged then without going to the remote again
    if (conn !== this.#localConn || this.#local?.connected !== true) return
    this.#sent.delete(id)
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

  /**
   * Stop: close the local session (what the remote has not acknowledged stays queued in it,
   * for the next start), then DISCONNECT from the remote.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#retry)
    const local = this.#local
    this.#local = undefined
    await local?.end().catch(() => {})
    if (this.#stats.pending > 0) this.#log.info({ pending: this.#stats.pending }, `bridge ${this.spec.name}: closing; messages the remote has not acknowledged stay in the local session`)
    await this.#client?.end().catch(() => {})
    this.#stats.connected = false
    this.#setState(false)
  }
}

/** Start every bridge of the config; a failing remote never stops the broker. */
export function startBridges (specs: readonly BridgeSpec[], broker: Broker, logger: Logger, access: BridgeAccess = bridgeAccess(specs)): Bridge[] {
  const log = logger.child({ component: 'bridge' })
  const bridges = specs.map(s => new Bridge(s, broker, log, access))
  for (const b of bridges) b.start().catch(() => {})
  return bridges
}

/** Resolves once every bridge's local subscriptions are in place (at most `ms` later). */
export async function bridgesReady (bridges: readonly Bridge[], ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all(bridges.map(b => b.localReady)),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
  ])
  clearTimeout(timer)
}
