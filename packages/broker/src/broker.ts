/**
 * `Broker`: the engine. It never opens sockets: apps hand it duplex streams with
 * `handle()`. It owns the routing trie (subscriptions of every session, shared groups), the
 * sessions, the store and the bus, the counters behind `$SYS`, and the hooks.
 *
 * Routing (`route`) is the hot path: one trie walk with a callback bound once, per-session
 * scratch fields to fold overlapping subscriptions into one delivery (highest QoS, every
 * subscription identifier), and plain loops over the targets. Nothing is awaited for
 * online subscribers; only offline persistent sessions and retained messages touch the
 * store, and the publisher's PUBACK/PUBREC waits for exactly those writes.
 */
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { PublishProperties, QoS, Will } from '@culex/packet'
import { TopicTrie, validateFilter, validateTopic } from '@culex/trie'
import type { Bus, BusMessage } from './bus.ts'
import { Connection, OutEntry, State } from './connection.ts'
import { resolveClock, type Clock, type ClockTimer } from './clock.ts'
import { BrokerError } from './errors.ts'
import { Fifo } from './fifo.ts'
import { LocalBus } from './local-bus.ts'
import { LocalSubscribers, type LocalSubscribeOptions, type MessageHandler } from './local-subscribers.ts'
import { MemoryStore } from './memory-store.ts'
import { Counters, snapshot, type BrokerMetrics } from './metrics.ts'
import {
  resolveLimits, resolveQueuePolicy, type BrokerHooks, type BrokerOptions, type Client, type ConnectionInfo, type Logger,
  type QueuePolicy, type ResolvedLimits
} from './options.ts'
import { Routed } from './routed.ts'
import { OfflineClient, Session, SharedGroup, Sub, type TrieEntry } from './session.ts'
import type { OutgoingUpdate, Store, StoredMessage } from './store.ts'
import { SysPublisher } from './sys.ts'
import { TimedStore, storeTimings } from './timed-store.ts'

/** Counters of a broker (the numbers behind `$SYS`). */
export interface BrokerStats {
  /** Clients connected now (past CONNACK). */
  clientsConnected: number
  /** Highest `clientsConnected` seen. */
  clientsMaximum: number
  /** Connections accepted since start. */
  connectionsTotal: number
  /** MQTT packets of any type received / sent. */
  messagesReceived: number
  messagesSent: number
  /** PUBLISH packets received from clients / sent to clients. */
  publishReceived: number
  publishSent: number
  /** Deliveries dropped: QoS 0 to a backed-up socket, queue overflow (queuePolicy 'drop-oldest'), too large for the client, expired. */
  publishDropped: number
  /** Of `publishDropped`: dropped from a full queue under queuePolicy 'drop-oldest'. */
  queueDropped: number
  /** Subscribers whose queue stayed full beyond limits.stallTimeout (connection closed with 0x97). */
  subscribersStalled: number
  /** Persistent sessions ended because their stored queue went beyond limits.maxStoredMessages. */
  sessionsOverflowed: number
  /** QoS 1/2 PUBLISH answered 0x97 because a matching queue was full (queuePolicy 'reject'). */
  publishRejected: number
  bytesReceived: number
  bytesSent: number
  /** Time the broker was created, ms since epoch. */
  startedAt: number
}

/** A message given to {@link Broker.publish}. */
export interface PublishInput {
  topic: string
  payload: Buffer | string
  qos?: QoS
  retain?: boolean
  /** MQTT 5 properties (topicAlias and subscriptionIdentifier are ignored). */
  properties?: PublishProperties
}

/** A subscription as reported by the `subscribe` event. */
export interface GrantedSubscription {
  topic: string
  /** Requested QoS. */
  qos: QoS
  /** Granted QoS or a failure reason code (>= 0x80). */
  granted: number
}

/** Events of {@link Broker}, with their arguments. */
export interface BrokerEvents {
  /** A client passed CONNECT (CONNACK 0 sent). */
  client: [client: Client]
  /** A connected client's connection closed; `reasonCode` is the DISCONNECT reason (-1 if none). */
  clientDisconnect: [client: Client, reasonCode: number]
  /** A message was routed (from a client, a will, `broker.publish` or $SYS); client null if not from a client. */
  publish: [message: StoredMessage, client: Client | null]
  subscribe: [subscriptions: GrantedSubscription[], client: Client]
  unsubscribe: [topics: string[], client: Client]
  /** Something went wrong with one client; the broker carries on. */
  clientError: [client: Client, error: BrokerError]
  /** A broker-wide failure (store, bus). Only emitted when someone listens. */
  error: [error: BrokerError]
}

const NO_LOGGER: Logger = { debug () {}, info () {}, warn () {}, error () {} }
/**
 * authorizeRead answers kept per session; past this many distinct topics the cache starts
 * over, so a session on `#` over many topics holds a bounded map. Topics longer than
 * READ_CACHE_TOPIC are not cached (a hostile topic must not be pinned per session).
 */
const READ_CACHE_MAX = 256
const READ_CACHE_TOPIC = 256
const TIMER_MAX = 2 ** 31 - 1
const NO_INFO: ConnectionInfo = Object.freeze({})

/**
 * An MQTT 3.1 / 3.1.1 / 5.0 broker engine.
 *
 * @example
 * ```ts
 * import net from 'node:net'
 * import { Broker } from '@culex/broker'
 * const broker = new Broker()
 * const server = net.createServer((socket) => broker.handle(socket))
 * server.listen(1883)
 * ```
 */
export class Broker extends EventEmitter<BrokerEvents> {
  /** Broker / node id. */
  readonly id: string
  readonly store: Store
  readonly bus: Bus
  readonly limits: ResolvedLimits
  /** What a full session queue does to its publishers (see BrokerOptions.queuePolicy). */
  readonly queuePolicy: QueuePolicy
  /** @internal validator options from the limits, built once */
  readonly topicLimits: { maxLevels: number }
  readonly hooks: BrokerHooks
  /** @internal see BrokerOptions.responseInformation */
  readonly responseInformation: BrokerOptions['responseInformation']
  /** @internal see BrokerOptions.persistInflight */
  readonly persistInflight: boolean
  readonly logger: Logger
  /** The clock every timer and time reading of this broker uses (option `clock`). */
  readonly clock: Clock
  readonly stats: BrokerStats = {
    clientsConnected: 0,
    clientsMaximum: 0,
    connectionsTotal: 0,
    messagesReceived: 0,
    messagesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    publishDropped: 0,
    queueDropped: 0,
    subscribersStalled: 0,
    sessionsOverflowed: 0,
    publishRejected: 0,
    bytesReceived: 0,
    bytesSent: 0,
    startedAt: 0
  }

  /** @internal counters behind {@link Broker.metrics} beyond `stats` */
  readonly counters = new Counters()
  readonly #local: LocalSubscribers

  /** @internal sessions by client id */
  readonly sessions = new Map<string, Session>()
  readonly #connections = new Set<Connection>()
  readonly #trie = new TopicTrie<TrieEntry>()
  readonly #groups = new Map<string, SharedGroup>()
  #subCount = 0
  /** Writes of deliveries to a connection whose resume is reading the store (see resumeSession). */
  readonly #resumeWrites = new Map<Connection, { writes: Array<Promise<unknown>>, seqs: number[] }>()
  readonly #ownStore: boolean
  readonly #ownBus: boolean
  readonly #ready: Promise<void>
  #closed = false
  /** Bumped by invalidateAuthorization: every session's authorizeRead cache is stale. */
  #authEpoch = 1
  readonly #clustered: boolean
  /** The last bus write a QoS 0 publish was sent with (one error handler per batch). */
  #busSent: Promise<void> | null = null
  readonly #sys: SysPublisher | null
  // routing scratch (see route)
  #gen = 0
  #origin: string | undefined = undefined
  #targets: Session[] = []
  #shared: SharedGroup[] = []
  #routing = false
  /** Set by dispatchMessage for a 5.0 publisher under queuePolicy 'reject': route skips full queues. */
  #mayReject = false
  /** route skipped a full queue for #mayReject. */
  #rejected = false
  readonly #collect = (v: TrieEntry): void => {
    if (v.isGroup) {
      this.#shared.push(v)
      return
    }
    const s = v.session
    if (v.nl && s.clientId === this.#origin) return // [MQTT-3.8.3-3] no local
    // a subscription readable as a whole needs no per-topic read decision (asked once per
    // identity and rules: 10 % of the QoS 0 fan-out with a 1,000-rule ACL, see bench:acl)
    if (this.hooks.authorizeReadFilter !== undefined && (v.readEpoch !== this.#authEpoch || v.readIdent !== s.identGen)) this.#readAllOf(v)
    if (s.gen !== this.#gen) {
      s.gen = this.#gen
      s.dq = v.qos
      s.drap = v.rap
      s.dids = v.subId > 0 ? [v.subId] : null
      s.dreadAll = v.readAll
      this.#targets.push(s)
      return
    }
    if (v.readAll) s.dreadAll = true
    if (v.qos > s.dq) s.dq = v.qos
    if (v.rap) s.drap = true
    if (v.subId > 0) (s.dids ??= []).push(v.subId)
  }

  // uncork every stream written in this tick at once
  #corked: Connection[] = []
  readonly #uncorkAll = (): void => {
    const list = this.#corked
    this.#corked = []
    for (let i = 0; i < list.length; i++) list[i]!.uncork()
  }

  /**
   * @param options - see {@link BrokerOptions}; every field optional
   * @throws TypeError for an unknown or invalid limit
   */
  constructor (options: BrokerOptions = {}) {
    super()
    this.clock = resolveClock(options.clock)
    this.stats.startedAt = this.clock.now()
    this.limits = resolveLimits(options.limits)
    this.queuePolicy = resolveQueuePolicy(options.queuePolicy)
    this.topicLimits = { maxLevels: this.limits.maxTopicLevels }
    this.hooks = options
    this.responseInformation = options.responseInformation
    this.persistInflight = options.persistInflight ?? true
    this.logger = options.logger ?? NO_LOGGER
    this.#local = new LocalSubscribers(this.logger)
    this.#ownStore = options.store === undefined
    const store = options.store ?? new MemoryStore({ maxQueuedMessages: this.limits.maxQueuedMessages, clock: this.clock })
    this.store = options.storeMetrics === true ? new TimedStore(store) : store
    this.#ownBus = options.bus === undefined
    this.bus = options.bus ?? new LocalBus(options.id)
    this.id = options.id ?? this.bus.nodeId
    this.#clustered = !(this.bus instanceof LocalBus)
    if (this.#clustered) this.bus.onMessage((msg) => { this.#fromBus(msg) })
    this.#ready = this.#restore()
    const every = options.sysInterval ?? 10
    this.#sys = every > 0 ? new SysPublisher(this, every) : null
  }

  /** Resolves once sessions stored by an earlier run are loaded (connections wait for it). */
  ready (): Promise<void> {
    return this.#ready
  }

  async #restore (): Promise<void> {
    try {
      for await (const rec of this.store.sessions()) {
        if (this.sessions.has(rec.clientId)) continue
        const s = new Session(rec.clientId, rec.protocolVersion, rec.expiryInterval)
        s.restored = true
        s.owner = rec.username
        s.offline = new OfflineClient(rec.clientId, rec.protocolVersion, rec.username)
        this.sessions.set(rec.clientId, s)
        for (const sub of rec.subscriptions) this.addSub(s, sub.topic, sub.qos, sub.nl, sub.rap, sub.rh, sub.subscriptionId ?? 0)
        if (rec.expiresAt !== undefined) this.#armExpiry(s, rec.expiresAt)
      }
      // wills left by an earlier run of this node: those connections died with it
      for (const w of await this.store.willsOfNode(this.id)) {
        if (this.connectionOf(w.clientId) !== undefined) continue
        const will: Will = { topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain }
        if (w.properties !== undefined) will.properties = w.properties
        this.#publishWill(null, will, w.clientId)
      }
    } catch (err) {
      this.storeError('restoring sessions', err)
    }
  }

  /** The connected client with this id, if any. */
  client (clientId: string): Client | undefined {
    return this.connectionOf(clientId)
  }

  /** @internal the connection attached to a session (one lookup: no separate client map) */
  connectionOf (clientId: string): Connection | undefined {
    return this.sessions.get(clientId)?.conn ?? undefined
  }

  /** Number of subscriptions (shared members included). */
  get subscriptionCount (): number {
    return this.#subCount
  }

  /** Number of open connections (including those not yet past CONNECT). */
  get connectionCount (): number {
    return this.#connections.size
  }

  /**
   * A read-only snapshot of connections, sessions, subscriptions, traffic by QoS, drops by
   * cause, queue depth, inflight and auth failures. Walks the sessions once: call it per
   * scrape, not per message. The retained count is `await broker.store.countRetained()`.
   */
  metrics (): BrokerMetrics {
    return snapshot(this.stats, this.counters, this.sessions.values(), this.#connections.size, this.#subCount, this.#local.size, this.clock.now(), storeTimings(this.store))
  }

  /**
   * Subscribe in-process: `handler` gets every message routed on this node whose topic
   * matches `filter` (from clients, wills, `publish`, $SYS and other nodes), capped at
   * `options.qos`, without a socket or a session. Not checked by the authorization hooks;
   * handlers run synchronously during routing, so they must be quick.
   *
   * @param filter - an MQTT topic filter (no `$share/`)
   * @returns a function that removes the subscription
   * @throws BrokerError `BROKER_ERR_TOPIC_INVALID` for a bad filter; TypeError for a bad qos
   * @example
   * ```ts
   * const stop = broker.subscribe('sensors/+/temp', (m) => { console.log(m.topic, m.payload.toString()) })
   * stop()
   * ```
   */
  subscribe (filter: string, handler: MessageHandler, options: LocalSubscribeOptions = {}): () => void {
    const bad = filter.startsWith('$share/')
      ? new Error('shared subscriptions are for MQTT sessions')
      : validateFilter(filter, this.topicLimits)
    if (bad !== null) throw new BrokerError('BROKER_ERR_TOPIC_INVALID', `subscribe: ${bad.message}`, { cause: bad })
    const qos = options.qos ?? 2
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError(`subscribe: expected qos 0, 1 or 2, got ${String(qos)}`)
    if (typeof handler !== 'function') throw new TypeError('subscribe: expected a handler function')
    return this.#local.add(filter, handler, qos)
  }

  /**
   * Serve one client over `stream` (a net.Socket, a TLS socket, a WebSocket stream, or any
   * Duplex). The broker reads MQTT packets from it and closes it when the client is done.
   *
   * @param stream - a duplex byte stream
   * @param info - what the app knows about the peer (address, transport, TLS certificate)
   * @returns the client view of this connection
   */
  handle (stream: Duplex, info: ConnectionInfo = NO_INFO): Client {
    const c = new Connection(this, stream, info)
    if (this.#closed) {
      c.preConnect = false
      c.teardown(true)
      return c
    }
    // sockets without a CONNECT yet are bounded apart from maxConnections, and per address
    const addr = c.info.remoteAddress
    const perAddr = addr === undefined ? 0 : (this.#pendingByAddr.get(addr) ?? 0)
    if (this.#pendingCount >= this.limits.maxPendingConnections || perAddr >= this.limits.maxPendingPerAddress) {
      c.preConnect = false
      c.error('BROKER_ERR_SERVER_BUSY', `too many sockets without CONNECT (${perAddr >= this.limits.maxPendingPerAddress ? `maxPendingPerAddress ${this.limits.maxPendingPerAddress} from ${addr}` : `maxPendingConnections ${this.limits.maxPendingConnections}`})`)
      c.teardown(true)
      stream.destroy()
      return c
    }
    this.#pendingCount++
    if (addr !== undefined) this.#pendingByAddr.set(addr, perAddr + 1)
    c.pendingAddr = addr
    this.#connections.add(c)
    this.stats.connectionsTotal++
    return c
  }

  /** @internal start the sweep timer when the first connection arrives */
  watch (_c: Connection): void {
    if (this.#sweep !== null) return
    const ct = this.limits.connectTimeout
    // 1 s is fine for keepalive (1.5 × seconds); short connect timeouts get a finer sweep
    const st = this.limits.stallTimeout
    const every = Math.max(50, Math.min(1000, ct > 0 && ct < Infinity ? ct / 2 : 1000, st > 0 ? st / 2 : 1000))
    this.#sweep = this.clock.setInterval(this.#sweepAll, every)
    this.#sweep.unref()
  }

  #sweep: ClockTimer | null = null
  readonly #sweepAll = (): void => {
    if (this.#connections.size === 0) {
      this.clock.clearInterval(this.#sweep!)
      this.#sweep = null
      return
    }
    const now = this.clock.now()
    for (const c of this.#connections) c.check(now)
  }

  readonly #pendingByAddr = new Map<string, number>()
  #pendingCount = 0

  /** @internal `c` no longer counts as a socket without CONNECT (it sent one, or closed). */
  admitted (c: Connection): void {
    if (c.pendingAddr === null) return
    this.#pendingCount--
    const addr = c.pendingAddr
    c.pendingAddr = null
    if (addr === undefined) return
    const n = this.#pendingByAddr.get(addr)! - 1
    if (n === 0) this.#pendingByAddr.delete(addr)
    else this.#pendingByAddr.set(addr, n)
  }

  /** Sockets that have not sent a CONNECT yet. */
  get pendingConnectionCount (): number {
    return this.#pendingCount
  }

  /** @internal whether a new CONNECT must be refused for maxConnections (sockets without CONNECT do not count) */
  overCapacity (): boolean {
    return this.#connections.size - this.#pendingCount > this.limits.maxConnections
  }

  /** @internal */
  scheduleUncork (c: Connection): void {
    if (this.#corked.length === 0) process.nextTick(this.#uncorkAll)
    this.#corked.push(c)
  }

  /** @internal */
  emitClientError (c: Client, err: BrokerError): void {
    // logged here only when no listener does it (an app that listens logs it once, its way)
    if (this.listenerCount('clientError') > 0) this.emit('clientError', c, err)
    else this.logger.debug({ client: c.id, code: err.code, err: err.message }, 'client error')
  }

  /** @internal */
  storeError (what: string, err: unknown): void {
    const e = new BrokerError('BROKER_ERR_STORE', `store failed while ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    this.logger.error({ err: e.message }, 'store error')
    if (this.listenerCount('error') > 0) this.emit('error', e)
  }

  /** A new client id for 5.0 clients that sent none [MQTT-3.1.3-6]. */
  assignClientId (): string {
    return 'culex-' + randomUUID()
  }

  // ───────── authorization of deliveries ─────────

  /**
   * Forget every cached `authorizeRead` answer: call it when the rules behind the hook
   * change (an ACL file reloaded). Later deliveries ask the hook again.
   */
  invalidateAuthorization (): void {
    this.#authEpoch++
  }

  /**
   * @internal May `client` (the identity holding `s`) receive a message on `topic`? Asks
   * authorizeRead once per (session, topic) and epoch; a hook that throws denies.
   */
  canRead (s: Session, client: Client, topic: string): boolean {
    const hook = this.hooks.authorizeRead
    if (hook === undefined) return true
    let cache = s.readCache
    if (cache === null || s.readEpoch !== this.#authEpoch) {
      cache = s.readCache = new Map()
      s.readEpoch = this.#authEpoch
    }
    const known = cache.get(topic)
    if (known !== undefined) return known
    let ok: boolean
    try {
      ok = hook(client, topic) === true
    } catch (err) {
      this.logger.error({ client: client.id, topic, err: (err as Error)?.message ?? String(err) }, 'authorizeRead failed: delivery denied')
      return false
    }
    if (topic.length <= READ_CACHE_TOPIC) {
      if (cache.size >= READ_CACHE_MAX) cache.clear()
      cache.set(topic, ok)
    }
    return ok
  }

  /** Ask authorizeReadFilter whether `v`'s filter is readable as a whole by its session's identity now. */
  #readAllOf (v: Sub): void {
    const s = v.session
    let ok = false
    try {
      ok = this.hooks.authorizeReadFilter!(s.conn ?? this.offlineClient(s), v.topic) === true
    } catch (err) {
      this.logger.error({ client: s.clientId, filter: v.topic, err: (err as Error)?.message ?? String(err) }, 'authorizeReadFilter failed: per-topic decisions instead')
    }
    v.readAll = ok
    v.readEpoch = this.#authEpoch
    v.readIdent = s.identGen
  }

  /**
   * @internal The identity authorization decides for while `s` has no connection: the
   * last one that held it (or its stored owner after a restart).
   */
  offlineClient (s: Session): Client {
    return (s.offline ??= new OfflineClient(s.clientId, s.protocolVersion, s.owner))
  }

  /**
   * @internal The message `client` may receive on a path off the fan-out loop (retained on
   * subscribe, replay on resume, shared groups): authorizeRead, then authorizeForward.
   */
  readable (s: Session, client: Client, m: StoredMessage): StoredMessage | null {
    if (!this.canRead(s, client, m.topic)) return null
    const forward = this.hooks.authorizeForward
    return forward === undefined ? m : forward(client, m)
  }

  // ───────── publishing ─────────

  /**
   * Publish a message as the broker (no client): routed to subscribers and, with `retain`,
   * stored as the retained message of its topic (an empty payload clears it).
   *
   * @returns resolves once retained storage and offline queues have accepted it
   * @throws BrokerError `BROKER_ERR_TOPIC_INVALID` (bad topic), `BROKER_ERR_CLOSED`; TypeError for a bad qos
   */
  async publish (input: PublishInput): Promise<void> {
    if (this.#closed) throw new BrokerError('BROKER_ERR_CLOSED', 'publish: the broker is closed')
    const bad = validateTopic(input.topic, this.topicLimits)
    if (bad !== null) throw new BrokerError('BROKER_ERR_TOPIC_INVALID', `publish: ${bad.message}`, { cause: bad })
    const qos = input.qos ?? 0
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError(`publish: expected qos 0, 1 or 2, got ${String(qos)}`)
    const payload = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload
    let props = input.properties
    let expiresAt: number | undefined
    if (props !== undefined) {
      props = { ...props }
      delete props.topicAlias
      delete props.subscriptionIdentifier
      if (props.messageExpiryInterval !== undefined) expiresAt = this.clock.now() + props.messageExpiryInterval * 1000
    }
    const m = new Routed(input.topic, payload, qos, input.retain ?? false, props, expiresAt, undefined, false)
    await this.dispatchMessage(m, null)
  }

  /**
   * @internal Store (retained) and route a message; returns the store work the sender's
   * acknowledgement must wait for, or null when there is none (the common case).
   */
  dispatchMessage (m: Routed, from: Connection | null): Promise<unknown> | null {
    let retained: Promise<unknown> | null = null
    if (m.retain) retained = this.#putRetained(m)
    let sent: Promise<void> | null = null
    if (this.#clustered && this.bus.interested?.(m.topic) !== false) {
      m.own()
      // sends of one tick share one write (RedisBus): one error handler per write
      sent = this.bus.send({ type: 'publish', nodeId: this.id, message: m.stored(m.qos, m.retain) })
      if (m.qos === 0) {
        if (sent !== this.#busSent) {
          this.#busSent = sent
          sent.catch((err: unknown) => { this.storeError('sending a message to the bus', err) })
        }
        sent = null
      }
    }
    let routed: Promise<unknown> | null
    if (from !== null && from.protocolVersion === 5 && m.qos > 0 && this.queuePolicy === 'reject') {
      this.#mayReject = true
      this.#rejected = false
      try {
        routed = this.route(m)
      } finally {
        this.#mayReject = false
      }
      if (this.#rejected) {
        this.stats.publishRejected++
        const quota = Promise.reject(new BrokerError('BROKER_ERR_QUOTA_EXCEEDED', `a session matching ${JSON.stringify(m.topic)} has a full queue (queuePolicy reject)`, { reasonCode: 0x97 }))
        routed = routed === null ? quota : Promise.all([routed, quota])
      }
    } else {
      routed = this.route(m)
    }
    if (this.#local.size > 0) this.#local.deliver(m)
    if (this.listenerCount('publish') > 0) this.emit('publish', m, from)
    // a QoS 1/2 acknowledgement waits for the bus write too
    if (sent !== null) retained = retained === null ? sent : Promise.all([retained, sent])
    if (retained === null) return routed
    if (routed === null) return retained
    return Promise.all([retained, routed])
  }

  async #putRetained (m: Routed): Promise<void> {
    if (m.payload.length > 0 && this.limits.maxRetained < Infinity) {
      const n = await this.store.countRetained()
      if (n >= this.limits.maxRetained && (await this.store.matchRetained(m.topic)).length === 0) {
        this.stats.publishDropped++
        this.counters.drops.retainedLimit++
        return
      }
    }
    await this.store.putRetained(m.stored(m.qos, true))
  }

  /**
   * @internal Deliver `m` to every matching session: one delivery per session at the highest
   * matching QoS with all subscription identifiers; one member per shared group.
   */
  route (m: Routed, onlineOnly = false): Promise<unknown> | null {
    // a re-entrant call (a hook publishing from inside a delivery) gets its own scratch
    const reentrant = this.#routing
    const savedTargets = this.#targets
    const savedShared = this.#shared
    const savedOrigin = this.#origin
    if (reentrant) {
      this.#targets = []
      this.#shared = []
    }
    this.#routing = true
    this.#origin = m.origin
    this.#gen++
    const targets = this.#targets
    const shared = this.#shared
    let pending: Array<Promise<unknown>> | null = null
    try {
      this.#trie.forEachMatch(m.topic, this.#collect)
      const forward = this.hooks.authorizeForward
      // read authorization per delivery, against the receiver's identity (cached per session)
      const read = this.hooks.authorizeRead !== undefined
      for (let i = 0; i < targets.length; i++) {
        const s = targets[i]!
        const qos = (s.dq < m.qos ? s.dq : m.qos) as QoS
        const retain = s.drap ? m.retain : false // [MQTT-3.3.1-12] [MQTT-3.3.1-13]
        const c = s.conn
        if (c !== null) {
          if (read && !s.dreadAll && !this.canRead(s, c, m.topic)) continue
          if (c.overQueued && qos > 0 && this.#mayReject) {
            this.#rejected = true
            continue
          }
          let e: OutEntry | null
          if (forward !== undefined) {
            const fm = forward(c, m)
            if (fm === null) continue
            e = c.deliver(fm === m ? m : Routed.from(fm), qos, retain, s.dids, null)
          } else {
            e = c.deliver(m, qos, retain, s.dids, null)
          }
          if (e !== null && this.persistInflight && s.persistent) (pending ??= []).push(this.#storeInflight(s, c, e))
          // a full queue: the publisher's ack waits until it has room (one promise per episode);
          // under 'reject' the message that filled it is taken, the next ones are refused
          if (e !== null && c.overQueued && !this.#mayReject) (pending ??= []).push(c.room())
        } else if (qos > 0 && s.persistent && !onlineOnly) {
          // queued only if its owner may read it now; checked again on replay
          if (read && !s.dreadAll && !this.canRead(s, this.offlineClient(s), m.topic)) continue
          (pending ??= []).push(this.#enqueueOffline(s, m.stored(qos, retain), s.dids))
        }
      }
      for (let i = 0; i < shared.length; i++) {
        if (onlineOnly) continue // the sending node picked the shared-group member
        const p = this.#deliverShared(shared[i]!, m, null, null)
        if (p !== null) (pending ??= []).push(p)
      }
    } finally {
      targets.length = 0
      shared.length = 0
      this.#routing = reentrant
      this.#origin = savedOrigin
      if (reentrant) {
        this.#targets = savedTargets
        this.#shared = savedShared
      }
    }
    if (pending === null) return null
    return pending.length === 1 ? pending[0]! : Promise.all(pending)
  }

  /**
   * A QoS 1/2 delivery to a connected persistent session is written to the store too (the
   * publisher's ack waits for it), so a crash before the subscriber acknowledges loses
   * nothing. The delivery itself does not wait: the entry learns its seq when the write is
   * done (Connection.stored). Shared-subscription deliveries stay in memory (see README).
   */
  #storeInflight (s: Session, c: Connection, e: OutEntry): Promise<unknown> {
    e.storing = true
    // sent already (the usual case): the record carries the packet id from its first write,
    // so a crash can never find it without one and send it again as new (a QoS 2 duplicate)
    let sent: OutgoingUpdate | undefined
    if (e.state !== 0) {
      sent = { messageId: e.id, state: e.state === Connection.PUBREL ? 'pubrel' : 'sent' }
      e.storedId = e.id
    }
    const live = c.resuming ? this.#resumeWrites.get(c) : undefined
    let gen = 0
    const p = this.store.enqueue(s.clientId, e.msg.stored(e.qos, e.retain), e.ids ?? undefined, sent).then(live === undefined
      ? (r) => { c.stored(e, r.seq, gen) }
      : (r) => {
          live.seqs.push(r.seq)
          c.stored(e, r.seq, gen)
        }, (err: unknown) => {
      e.storing = false
      c.storeFailed(e)
      throw err
    })
    // a reconnect of this session reads the store after the write, and the state update it issues
    gen = s.track(p)
    if (live !== undefined) live.writes.push(p)
    return p
  }

  #enqueueOffline (s: Session, m: StoredMessage, ids: number[] | null): Promise<unknown> {
    const p = this.store.enqueue(s.clientId, m, ids ?? undefined).then((r) => {
      if (r.queued > this.limits.maxStoredMessages && s.conn === null && this.sessions.get(s.clientId) === s) this.#overStored(s, r.queued)
    })
    // a reconnect waits for these before reading the queue
    s.track(p)
    return p
  }

  /**
   * An offline session's stored queue went beyond limits.maxStoredMessages: the session ends
   * (its next CONNECT gets Session Present 0) instead of losing messages silently. The
   * message that went beyond is acknowledged to its publisher: it is owed to no one now.
   */
  #overStored (s: Session, queued: number): void {
    this.stats.sessionsOverflowed++
    this.logger.warn({ client: s.clientId, queued }, 'offline session ended: stored queue beyond limits.maxStoredMessages')
    this.#expire(s)
  }

  /**
   * One member of a shared group gets the message: the next connected member in
   * round-robin order, else the next persistent offline member (queued), else nobody.
   */
  #deliverShared (g: SharedGroup, m: Routed, exclude: Session | null, entry: OutEntry | null): Promise<unknown> | null {
    const members = g.members
    const n = members.length
    let offline: Sub | null = null
    for (let k = 0; k < n; k++) {
      const idx = (g.next + k) % n
      const sub = members[idx]!
      const s = sub.session
      if (s === exclude) continue
      const c = s.conn
      if (c !== null) {
        // a member that may not read this topic is passed over: another member gets it
        const fm = this.readable(s, c, m)
        if (fm === null) continue
        g.next = idx + 1
        const qos = (entry !== null ? entry.qos : (sub.qos < m.qos ? sub.qos : m.qos)) as QoS
        const retain = entry !== null ? entry.retain : (sub.rap ? m.retain : false)
        const e = c.deliver(fm === m ? m : Routed.from(fm), qos, retain, sub.subId > 0 ? [sub.subId] : null, g)
        return e !== null && c.overQueued ? c.room() : null
      }
      if (offline === null && s.persistent && this.canRead(s, this.offlineClient(s), m.topic)) offline = sub
    }
    if (offline === null) return null
    g.next = members.indexOf(offline) + 1
    const qos = (offline.qos < m.qos ? offline.qos : m.qos) as QoS
    if (qos === 0) return null
    return this.#enqueueOffline(offline.session, m.stored(qos, offline.rap ? m.retain : false), offline.subId > 0 ? [offline.subId] : null)
  }

  /**
   * A message from another node. Publishes are delivered to this node's connected clients
   * only: the sending node already stored retained messages and queued for the offline
   * sessions it routes, and chose the shared-subscription member. A takeover closes this
   * node's connection for that client id.
   */
  #fromBus (msg: BusMessage): void {
    if (this.#closed || msg.nodeId === this.id) return
    if (msg.type === 'publish') {
      const m = Routed.from(msg.message)
      // the store writes of connected persistent sessions (persistInflight) may fail
      const stored = this.route(m, true)
      if (stored !== null) stored.catch((err: unknown) => { this.storeError('storing a message from the bus', err) })
      if (this.#local.size > 0) this.#local.deliver(m)
      if (this.listenerCount('publish') > 0) this.emit('publish', m, null)
    } else if (msg.type === 'takeover') {
      const c = this.connectionOf(msg.clientId)
      if (c !== undefined) {
        c.error('BROKER_ERR_SESSION_TAKEN_OVER', `client id connected on node ${msg.nodeId}`)
        c.disconnect(0x8E, 'session taken over')
      }
    }
  }

  /** @internal tell other nodes that `clientId` connected here */
  announceConnect (clientId: string): void {
    if (!this.#clustered) return
    this.bus.send({ type: 'takeover', nodeId: this.id, clientId })
      .catch((err: unknown) => { this.storeError('sending a takeover to the bus', err) })
  }

  // ───────── subscriptions ─────────

  /**
   * @internal Add or replace a subscription of `s`. `filter` may be `$share/g/f` (already
   * validated). Returns true if it replaced an existing subscription [MQTT-3.8.4-3].
   */
  addSub (s: Session, topic: string, qos: QoS, nl: boolean, rap: boolean, rh: 0 | 1 | 2, subId: number): boolean {
    const existing = s.subs.get(topic)
    if (existing !== undefined) {
      existing.qos = qos
      existing.nl = nl
      existing.rap = rap
      existing.rh = rh
      existing.subId = subId
      return true
    }
    let group: SharedGroup | null = null
    let filter = topic
    if (topic.startsWith('$share/')) {
      const slash = topic.indexOf('/', 7)
      const name = topic.slice(7, slash)
      filter = topic.slice(slash + 1)
      const key = name + '\u0000' + filter
      group = this.#groups.get(key) ?? null
      if (group === null) {
        group = new SharedGroup(name, filter)
        this.#groups.set(key, group)
        this.#trie.add(filter, group)
        this.bus.addRoute?.(filter)
      }
    }
    const sub = new Sub(s, topic, qos, nl, rap, rh, subId, group)
    if (group !== null) group.members.push(sub)
    else {
      this.#trie.add(filter, sub)
      this.bus.addRoute?.(filter)
    }
    s.subs.set(topic, sub)
    this.#subCount++
    return false
  }

  /** @internal Remove a subscription; false if `s` had none for `topic`. */
  removeSub (s: Session, topic: string): boolean {
    const sub = s.subs.get(topic)
    if (sub === undefined) return false
    s.subs.delete(topic)
    this.#subCount--
    const g = sub.group
    if (g === null) {
      this.#trie.remove(topic, sub)
      this.bus.removeRoute?.(topic)
      return true
    }
    const i = g.members.indexOf(sub)
    if (i >= 0) g.members.splice(i, 1)
    if (g.members.length === 0) {
      this.#trie.remove(g.filter, g)
      this.bus.removeRoute?.(g.filter)
      this.#groups.delete(g.name + '\u0000' + g.filter)
    }
    return true
  }

  // ───────── sessions ─────────

  /** @internal End a session: subscriptions leave the trie, the store forgets it. */
  async endSession (s: Session): Promise<void> {
    for (const topic of [...s.subs.keys()]) this.removeSub(s, topic)
    if (s.expiryTimer !== null) this.clock.clearTimeout(s.expiryTimer)
    s.expiryTimer = null
    if (this.sessions.get(s.clientId) === s) this.sessions.delete(s.clientId)
    const writes = s.settled()
    if (writes !== null) await writes
    await this.store.deleteSession(s.clientId)
  }

  #armExpiry (s: Session, expiresAt: number): void {
    if (s.expiryTimer !== null) this.clock.clearTimeout(s.expiryTimer)
    const left = expiresAt - this.clock.now()
    s.expiryTimer = this.clock.setTimeout(() => {
      s.expiryTimer = null
      if (s.conn !== null) return
      if (expiresAt - this.clock.now() > 0) {
        this.#armExpiry(s, expiresAt)
        return
      }
      this.counters.sessionsExpired++
      this.#expire(s)
    }, Math.max(0, Math.min(left, TIMER_MAX)))
    s.expiryTimer.unref()
  }

  #expire (s: Session): void {
    // the will is published when the session ends, if that comes before its delay [MQTT-3.1.3-9]
    if (s.will !== null) this.#fireWill(s, null)
    this.endSession(s).catch((err: unknown) => { this.storeError('expiring a session', err) })
  }

  /** @internal Called once per connection when it closes. */
  connectionClosed (c: Connection, wasConnected: boolean): void {
    this.#connections.delete(c)
    this.admitted(c)
    if (!wasConnected) return
    this.stats.clientsConnected--
    const s = c.session
    if (s !== null && s.conn === c) {
      s.conn = null
      s.offline = new OfflineClient(c.id, c.protocolVersion === 0 ? 4 : c.protocolVersion, c.username, c.info)
      // the expiry of the connection that ends governs the session from now on [MQTT-3.1.2-5]
      s.expiryInterval = c.expiry
      const entries = c.pending()
      const keep: OutEntry[] = []
      for (const e of entries) {
        // a shared-subscription message the member did not acknowledge goes to another member;
        // QoS 2 only if it never went out: once sent, it completes with the member that got it
        // (its session, or that session's end) [MQTT-4.8.2-4]
        if (e.group !== null && (e.qos === 1 || e.state === 0)) {
          const queued = this.#deliverShared(e.group, e.msg, s, e)
          if (queued !== null) {
            // taken by an offline member's queue
            queued.catch((err: unknown) => { this.storeError('redelivering a shared-subscription message', err) })
            continue
          }
          if (this.#handedOver(e.group, s)) continue
        }
        keep.push(e)
      }
      if (c.will !== null) this.#willOnClose(c, s)
      if (s.expiryInterval !== 0) this.#goOffline(s, keep)
      else if (!this.#closed) this.endSession(s).catch((err: unknown) => { this.storeError('ending a session', err) })
    } else if (c.will !== null && s !== null) {
      this.#willOnClose(c, s)
    }
    if (this.listenerCount('clientDisconnect') > 0) this.emit('clientDisconnect', c, c.disconnectReason)
  }

  // #deliverShared returns null both when delivered online and when nobody took it; tell them apart
  #handedOver (g: SharedGroup, exclude: Session): boolean {
    for (const m of g.members) if (m.session !== exclude && m.session.conn !== null) return true
    return false
  }

  #goOffline (s: Session, entries: OutEntry[]): void {
    const store = this.store
    const work: Array<Promise<unknown>> = []
    // issued in order, so the store assigns increasing seqs: inflight first, then queued
    for (const e of entries) {
      // replayed from the store and not yet acknowledged: its record is still there, in step;
      // or being written (persistInflight): the write in flight stores it, then its state
      if (e.seq >= 0 || e.storing) continue
      const m = e.msg.stored(e.qos, e.retain)
      work.push(store.enqueue(s.clientId, m, e.ids ?? undefined,
        e.state === 0 ? undefined : { messageId: e.id, state: e.state === Connection.PUBREL ? 'pubrel' : 'sent' }))
    }
    if (s.expiryInterval !== 0xFFFFFFFF) {
      const at = this.clock.now() + s.expiryInterval * 1000
      work.push(store.setSessionExpiry(s.clientId, at))
      this.#armExpiry(s, at)
    }
    if (work.length > 0) {
      s.track(Promise.all(work).catch((err: unknown) => { this.storeError('saving an offline session', err) }))
    }
  }

  #willOnClose (c: Connection, s: Session): void {
    const will = c.will!
    c.will = null
    const delay = will.properties?.willDelayInterval ?? 0
    if (delay === 0 || s.expiryInterval === 0 || this.#closed) {
      this.#publishWill(c, will)
      return
    }
    // delayed: published when the delay or the session ends, whichever comes first [MQTT-3.1.3-9]
    s.will = will
    this.#armWill(s, c, this.clock.now() + Math.min(delay, s.expiryInterval) * 1000)
  }

  // a timer runs at most TIMER_MAX ms (~24.8 days): a longer delay re-arms, like #armExpiry
  #armWill (s: Session, c: Connection, at: number): void {
    s.willTimer = this.clock.setTimeout(() => {
      s.willTimer = null
      if (at - this.clock.now() > 0) this.#armWill(s, c, at)
      else this.#fireWill(s, c)
    }, Math.max(0, Math.min(at - this.clock.now(), TIMER_MAX)))
    s.willTimer.unref()
  }

  #fireWill (s: Session, c: Connection | null): void {
    const will = s.will
    s.will = null
    if (s.willTimer !== null) this.clock.clearTimeout(s.willTimer)
    s.willTimer = null
    if (will !== null) this.#publishWill(c, will, s.clientId)
  }

  /** @internal A reconnect cancels a delayed will [MQTT-3.1.3-9]. */
  cancelWill (s: Session): void {
    s.will = null
    if (s.willTimer !== null) this.clock.clearTimeout(s.willTimer)
    s.willTimer = null
  }

  #publishWill (c: Connection | null, will: Will, clientId = c?.id ?? ''): void {
    const wp = will.properties
    let props: PublishProperties | undefined
    let expiresAt: number | undefined
    if (wp !== undefined) {
      props = {}
      if (wp.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = wp.payloadFormatIndicator
      if (wp.messageExpiryInterval !== undefined) {
        props.messageExpiryInterval = wp.messageExpiryInterval
        expiresAt = this.clock.now() + wp.messageExpiryInterval * 1000
      }
      if (wp.contentType !== undefined) props.contentType = wp.contentType
      if (wp.responseTopic !== undefined) props.responseTopic = wp.responseTopic
      if (wp.correlationData !== undefined) props.correlationData = wp.correlationData
      if (wp.userProperties !== undefined) props.userProperties = wp.userProperties
    }
    const m = new Routed(will.topic, will.payload, will.qos, will.retain, props, expiresAt, clientId, true)
    const go = (): void => {
      const p = this.dispatchMessage(m, c)
      if (p !== null) p.catch((err: unknown) => { this.storeError('publishing a will', err) })
      this.store.deleteWill(clientId).catch((err: unknown) => { this.storeError('deleting a will', err) })
    }
    const hook = this.hooks.authorizePublish
    if (hook === undefined || c === null) {
      go()
      return
    }
    Promise.resolve(hook(c, { cmd: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: false }))
      .then((ok) => { if (ok === true) go() }, (err: unknown) => { this.emitClientError(c, new BrokerError('BROKER_ERR_HOOK', `authorizePublish (will) failed: ${String(err)}`, { cause: err })) })
  }

  /** @internal Replay what the store kept for a resumed session, then open the queue. */
  async resumeSession (c: Connection, s: Session): Promise<void> {
    c.resuming = true
    const live = { writes: [] as Array<Promise<unknown>>, seqs: [] as number[] }
    this.#resumeWrites.set(c, live)
    try {
      const writes = s.settled()
      if (writes !== null) await writes
      const records = await this.store.outgoing(s.clientId, this.clock.now())
      // Messages routed to the session meanwhile wait on the connection and are written to
      // the store too; a write that landed before the read is in `records` as well. Those
      // records are the connection's own entries: skip them, or the message goes out twice
      // (a QoS 2 duplicate under a new packet id). Only writes issued before the read
      // returned can be in it, so waiting for those is enough.
      this.#resumeWrites.delete(c)
      let own: Set<number> | null = null
      if (live.writes.length > 0) {
        await Promise.allSettled(live.writes)
        own = new Set(live.seqs)
      }
      if (c.state === State.CLOSED) return
      const queued: OutEntry[] = []
      for (const r of records) {
        if (own !== null && own.has(r.seq)) continue
        let msg = r.message
        if (r.state !== 'pubrel') {
          // decided again for the identity resuming the session (rights may have changed)
          const fm = this.readable(s, c, msg)
          if (fm === null) {
            c.chainStore(this.store.removeOutgoing(s.clientId, r.seq), 'removing a message the client may not read')
            continue
          }
          msg = fm
        }
        const e = new OutEntry(Routed.from(msg), r.message.qos, r.message.retain, r.subscriptionIds ?? null, null)
        // the record stays in the store until the client acknowledges the delivery
        e.seq = r.seq
        e.storedId = r.messageId ?? 0
        if (r.state === 'queued' || r.messageId === undefined) {
          queued.push(e)
        } else if (r.state === 'pubrel') {
          c.resendPubrel(r.messageId, e)
        } else {
          // unacknowledged: resent with DUP and the same packet id [MQTT-4.4.0-1] [MQTT-3.3.1-1],
          // within the new connection's Receive Maximum [MQTT-3.3.4-9]; the rest wait in the
          // queue, in order, keeping their ids
          e.id = r.messageId
          e.dup = true
          if (queued.length === 0 && c.inflightSize() < c.window) {
            c.send(e)
          } else {
            queued.push(e)
            ;(c.heldIds ??= new Set()).add(e.id)
          }
        }
      }
      if (queued.length > 0) {
        if (c.queue === null) c.queue = new Fifo(queued)
        else c.queue.prepend(queued)
      }
    } finally {
      this.#resumeWrites.delete(c)
      c.resuming = false
      c.pump()
    }
  }

  // ───────── closing ─────────

  /**
   * Stop: every client is disconnected (5.0 clients get DISCONNECT 0x8B Server shutting
   * down), $SYS stops, and a store and bus the broker created itself are closed. Persistent
   * sessions are saved to the store first.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#sys?.stop()
    if (this.#sweep !== null) this.clock.clearInterval(this.#sweep)
    this.#sweep = null
    const chains: Array<Promise<unknown>> = []
    for (const c of [...this.#connections]) {
      if (c.will !== null) {
        // a shutdown is not the client's failure: its will is not published, nor left for the next start
        c.will = null
        chains.push(this.store.deleteWill(c.id).catch(() => {}))
      }
      c.disconnect(0x8B, 'server shutting down')
    }
    for (const s of this.sessions.values()) {
      const writes = s.settled()
      if (writes !== null) chains.push(writes)
      if (s.expiryTimer !== null) this.clock.clearTimeout(s.expiryTimer)
      if (s.willTimer !== null) this.clock.clearTimeout(s.willTimer)
    }
    await Promise.all(chains)
    if (this.#ownStore) await this.store.close()
    if (this.#ownBus) await this.bus.close()
  }

  /** Whether `close()` was called. */
  get closed (): boolean {
    return this.#closed
  }
}
