/**
 * `Aedes`: the Aedes 1.x broker API over the Culex engine (`@culex/broker`).
 *
 * The engine does the MQTT work; this class translates. Aedes' callback hooks become the
 * engine's promise hooks (with Aedes' error conventions: `err.returnCode`, `null`
 * subscriptions, errors closing the connection), the engine's events become Aedes' events,
 * and each engine client gets one {@link AedesClient} view.
 *
 * In-process subscriptions (`aedes.subscribe(topic, fn)`) are kept here, in a `TopicTrie`
 * fed by the engine's `publish` event, because the engine has no subscription seam for
 * in-process callers yet. When `broker.subscribe(filter, handler)` exists this can move onto
 * it; the observable behaviour (every routed message, `$` topics not matched by leading
 * wildcards) stays the same.
 */
import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import {
  Broker, VERSION, type AuthResult, type BrokerError, type BrokerHooks, type BrokerLimits, type BrokerOptions,
  type Bus, type Client, type ConnectionInfo, type GrantedSubscription, type Logger, type Store, type StoredMessage
} from '@culex/broker'
import type { ConnectPacket, PublishPacket, PublishProperties, QoS, Subscription } from '@culex/packet'
import { TopicTrie, validateFilter } from '@culex/trie'
import { AedesClient } from './client.ts'
import { AedesError } from './errors.ts'

/** A PUBLISH as Aedes hands it to hooks, events and in-process subscribers. */
export interface AedesPacket {
  cmd: 'publish'
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  dup: boolean
  messageId?: number
  properties?: PublishProperties
  /** Id of the broker that routed it (`aedes.id`). */
  brokerId: string
  /** Per-broker counter, increasing. */
  brokerCounter: number
  /** Id of the publishing client, absent for broker-originated messages. */
  clientId?: string
}

/** What `aedes.publish` accepts. */
export interface PublishInput {
  topic: string
  payload?: Buffer | string
  qos?: QoS
  retain?: boolean
  properties?: PublishProperties
  cmd?: 'publish'
  [key: string]: unknown
}

/** A subscription as `authorizeSubscribe` sees it (and may answer with). */
export interface AedesSubscription {
  topic: string
  qos: QoS
  nl?: boolean
  rap?: boolean
  rh?: number
}

/** An error a hook may call back with: `returnCode` (3.x) or `reasonCode` (5.0) choose the answer. */
export type HookError = Error & { returnCode?: number, reasonCode?: number, errorCode?: number }

export type PreConnectHandler = (client: AedesClient, packet: ConnectPacket, callback: (error: HookError | null | undefined, success?: boolean) => void) => void
export type AuthenticateHandler = (client: AedesClient, username: string | undefined, password: Buffer | undefined, callback: (error: HookError | null | undefined, success?: boolean | null) => void) => void
export type AuthorizePublishHandler = (client: AedesClient | null, packet: PublishPacket, callback: (error?: HookError | null) => void) => void
export type AuthorizeSubscribeHandler = (client: AedesClient, subscription: AedesSubscription, callback: (error: HookError | null | undefined, subscription?: AedesSubscription | null) => void) => void
export type AuthorizeForwardHandler = (client: AedesClient, packet: AedesPacket) => AedesPacket | null | undefined
export type PublishedHandler = (packet: AedesPacket, client: AedesClient | null, callback: (error?: Error | null) => void) => void
/** An in-process subscriber (`aedes.subscribe`). */
export type DeliverFunc = (packet: AedesPacket, callback: () => void) => void

/** Options of `new Aedes(options)` / `createBroker(options)`. */
export interface AedesOptions {
  /** Broker id. Default: a random UUID. */
  id?: string
  /** A Culex `Store` (MemoryStore, LevelStore, RedisStore, MongoStore). Default: a new MemoryStore. */
  persistence?: Store
  /** A Culex `Bus` (e.g. `RedisBus`) for a cluster. Default: a LocalBus. */
  bus?: Bus
  /** Milliseconds to wait for CONNECT. Default 30000. */
  connectTimeout?: number
  /** Highest keepalive accepted, seconds; 0 = no limit. Default 0. */
  keepaliveLimit?: number
  /** Maximum levels of a topic or filter. Default 100 (as Aedes). */
  maxTopicLevels?: number
  /** Milliseconds between `$SYS` publications (Culex's $SYS tree); 0 turns $SYS off. Default 60000. */
  heartbeatInterval?: number
  /** Any other Culex engine limit (they win over the Aedes names above). */
  limits?: BrokerLimits
  logger?: Logger
  preConnect?: PreConnectHandler
  authenticate?: AuthenticateHandler
  authorizePublish?: AuthorizePublishHandler
  authorizeSubscribe?: AuthorizeSubscribeHandler
  authorizeForward?: AuthorizeForwardHandler
  published?: PublishedHandler
  /** Accepted and ignored (no equivalent in the engine; see MIGRATION.md). */
  concurrency?: number
  queueLimit?: number
  maxInflightInbound?: number
  maxClientsIdLength?: number
  drainTimeout?: number
  /** Not supported: an mqemitter cannot carry Culex traffic. Pass `bus` instead. */
  mq?: never
  /** Not supported: pass the connection's address to `handle(stream, req)` instead. */
  trustProxy?: false
  trustedProxies?: never
  decodeProtocol?: never
}

/** Events of {@link Aedes}. */
export interface AedesEvents {
  client: [client: AedesClient]
  clientReady: [client: AedesClient]
  clientDisconnect: [client: AedesClient]
  clientError: [client: AedesClient, error: Error]
  connectionError: [client: AedesClient, error: Error]
  keepaliveTimeout: [client: AedesClient]
  publish: [packet: AedesPacket, client: AedesClient | null]
  subscribe: [subscriptions: Array<{ topic: string, qos: number }>, client: AedesClient]
  unsubscribe: [unsubscriptions: string[], client: AedesClient]
  closed: []
  error: [error: Error]
}

// Aedes' 3.1.1 return codes 2..5 as the 5.0 reason codes the engine answers with
// (the engine maps them back for 3.x clients)
const REASON_OF_RETURN_CODE: Record<number, number> = { 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 }
/** A refusing `authenticate` error without a usable `returnCode`: 3.1.1 code 4, 5.0 0x86 Bad username or password. */
const DEFAULT_AUTH_REFUSAL = 0x86

const UNSUPPORTED_OPTIONS: Record<string, string> = {
  mq: 'mq: an mqemitter cannot carry Culex traffic; pass a Culex Bus as `bus` (LocalBus, or RedisBus from @culex/store-redis for a cluster)',
  trustedProxies: 'trustedProxies: not supported; pass the client address to `aedes.handle(stream, req)` (the HTTP request of a WebSocket, whose socket address is used)',
  decodeProtocol: 'decodeProtocol: not supported; pass the client address to `aedes.handle(stream, req)`'
}

function noop (): void {}

function checkOptions (opts: AedesOptions): void {
  for (const key of Object.keys(UNSUPPORTED_OPTIONS)) {
    if ((opts as Record<string, unknown>)[key] !== undefined) throw new AedesError('AEDES_ERR_OPTION', UNSUPPORTED_OPTIONS[key]!)
  }
  if (opts.trustProxy === true as unknown) throw new AedesError('AEDES_ERR_OPTION', 'trustProxy: not supported; ' + UNSUPPORTED_OPTIONS.decodeProtocol!.slice(16))
  const p = opts.persistence as unknown as Record<string, unknown> | undefined
  if (p !== undefined) {
    if (typeof p !== 'object' || p === null || typeof p.enqueue !== 'function' || typeof p.getSession !== 'function') {
      const hint = p !== null && typeof p === 'object' && typeof p.storeRetained === 'function' ? ' (this looks like an aedes-persistence object)' : ''
      throw new AedesError('AEDES_ERR_OPTION', `persistence: expected a Culex Store (MemoryStore from @culex/broker, LevelStore, RedisStore, MongoStore)${hint}`)
    }
  }
}

function toBuffer (payload: unknown): Buffer {
  if (Buffer.isBuffer(payload)) return payload
  if (payload === undefined || payload === null) return Buffer.alloc(0)
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  return Buffer.from(String(payload))
}

function reasonCodeOf (err: HookError, fallback: number): number {
  if (typeof err.reasonCode === 'number' && err.reasonCode >= 0x80 && err.reasonCode <= 0xFF) return err.reasonCode
  const rc = err.returnCode
  if (typeof rc === 'number' && REASON_OF_RETURN_CODE[rc] !== undefined) return REASON_OF_RETURN_CODE[rc]!
  return fallback
}

function returnCodeOf (reasonCode: number): number {
  for (const [rc, reason] of Object.entries(REASON_OF_RETURN_CODE)) if (reason === reasonCode) return Number(rc)
  return 5
}

/**
 * The Aedes 1.x broker over the Culex engine.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:net'
 * import { Aedes } from '@culex/aedes'
 * const aedes = await Aedes.createBroker()
 * createServer(aedes.handle).listen(1883)
 * ```
 */
export class Aedes extends EventEmitter<AedesEvents> {
  /** Broker id. */
  readonly id: string
  /** The options given to the constructor. */
  readonly opts: AedesOptions
  /** The Culex engine underneath (for what the Aedes API does not cover). */
  readonly engine: Broker
  /** Read-only in Aedes: true before `listen()` and after `close()`. */
  closed = true
  /**
   * A connection listener: `net.createServer(aedes.handle)`, or `aedes.handle(stream, req)`
   * for a WebSocket stream with its HTTP request.
   */
  readonly handle: (stream: Duplex, req?: IncomingMessage) => AedesClient

  readonly #hooks: BrokerHooks
  readonly #clients = new Map<Client, AedesClient>()
  readonly #connected = new Map<string, AedesClient>()
  /** Engine NOT_AUTHORIZED errors to drop: the hook's own error was emitted instead. */
  readonly #replaced = new WeakSet<Client>()
  readonly #subs = new TopicTrie<DeliverFunc>()
  #counter = 0
  #preConnect: PreConnectHandler | undefined
  #authenticate: AuthenticateHandler | undefined
  #authorizePublish: AuthorizePublishHandler | undefined
  #authorizeSubscribe: AuthorizeSubscribeHandler | undefined
  #authorizeForward: AuthorizeForwardHandler | undefined
  #published: PublishedHandler | undefined

  /**
   * @param opts - see {@link AedesOptions}
   * @throws AedesError `AEDES_ERR_OPTION` for an option Culex cannot honour
   */
  constructor (opts: AedesOptions = {}) {
    super()
    checkOptions(opts)
    this.opts = opts
    const limits: BrokerLimits = {}
    if (opts.connectTimeout !== undefined) limits.connectTimeout = opts.connectTimeout
    if (opts.keepaliveLimit !== undefined) limits.maxKeepalive = opts.keepaliveLimit
    limits.maxTopicLevels = opts.maxTopicLevels ?? 100
    Object.assign(limits, opts.limits)
    this.#hooks = { preConnect: this.#onPreConnect }
    const engineOpts: BrokerOptions = this.#hooks
    engineOpts.limits = limits
    engineOpts.sysInterval = Math.round((opts.heartbeatInterval ?? 60000) / 1000)
    if (opts.id !== undefined) engineOpts.id = opts.id
    if (opts.persistence !== undefined) engineOpts.store = opts.persistence
    if (opts.bus !== undefined) engineOpts.bus = opts.bus
    if (opts.logger !== undefined) engineOpts.logger = opts.logger
    this.engine = new Broker(engineOpts)
    this.id = this.engine.id
    if (opts.preConnect !== undefined) this.preConnect = opts.preConnect
    if (opts.authenticate !== undefined) this.authenticate = opts.authenticate
    if (opts.authorizePublish !== undefined) this.authorizePublish = opts.authorizePublish
    if (opts.authorizeSubscribe !== undefined) this.authorizeSubscribe = opts.authorizeSubscribe
    if (opts.authorizeForward !== undefined) this.authorizeForward = opts.authorizeForward
    if (opts.published !== undefined) this.published = opts.published

    this.handle = (stream: Duplex, req?: IncomingMessage): AedesClient => {
      const info: ConnectionInfo = {}
      if (req !== undefined) {
        const sock = req.socket as { remoteAddress?: string, remotePort?: number, encrypted?: boolean } | undefined
        info.transport = sock?.encrypted === true ? 'wss' : 'ws'
        if (sock?.remoteAddress !== undefined) info.remoteAddress = sock.remoteAddress
        if (sock?.remotePort !== undefined) info.remotePort = sock.remotePort
      } else {
        const s = stream as Duplex & { encrypted?: boolean, remoteAddress?: string, remotePort?: number }
        info.transport = s.encrypted === true ? 'tls' : s.remoteAddress !== undefined ? 'tcp' : 'other'
        if (s.remotePort !== undefined) info.remotePort = s.remotePort
      }
      const c = this.engine.handle(stream, info)
      const w = new AedesClient(this, c, stream, req)
      if (c.connected || stream.destroyed) return w
      this.#clients.set(c, w)
      stream.once('close', () => {
        w.closed = true
        w.connecting = false
        this.#clients.delete(c)
      })
      return w
    }

    const engine = this.engine
    engine.on('client', (c) => {
      const w = this.#wrap(c)
      w.connecting = false
      this.#connected.set(c.id, w)
      this.emit('client', w)
      this.emit('clientReady', w)
    })
    engine.on('clientDisconnect', (c) => {
      const w = this.#wrap(c)
      w.closed = true
      if (this.#connected.get(c.id) === w) this.#connected.delete(c.id)
      this.emit('clientDisconnect', w)
    })
    engine.on('clientError', (c, err) => { this.#onEngineError(c, err) })
    engine.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
    // the engine skips its 'publish' event when nobody listens: listen only while needed
    const self = this as EventEmitter
    self.on('newListener', (name: string | symbol) => {
      // called before the listener is added: start listening now, not on the next tick
      if (name !== 'publish' || this.#listening) return
      this.#listening = true
      this.engine.on('publish', this.#publishListener)
    })
    self.on('removeListener', (name: string | symbol) => { if (name === 'publish') this.#syncPublish() })
    engine.on('subscribe', (subs: GrantedSubscription[], c) => {
      if (this.listenerCount('subscribe') === 0) return
      this.emit('subscribe', subs.map((s) => ({ topic: s.topic, qos: s.granted >= 0x80 ? 128 : s.granted })), this.#wrap(c))
    })
    engine.on('unsubscribe', (topics, c) => {
      if (this.listenerCount('unsubscribe') > 0) this.emit('unsubscribe', topics, this.#wrap(c))
    })
  }

  /** Create a broker and wait until it is ready (stored sessions loaded), as Aedes 1.x. */
  static async createBroker (opts: AedesOptions = {}): Promise<Aedes> {
    const aedes = new Aedes(opts)
    await aedes.listen()
    return aedes
  }

  /** Wait until the engine loaded stored sessions; then `closed` is false. */
  async listen (): Promise<void> {
    await this.engine.ready()
    if (!this.engine.closed) this.closed = false
  }

  /** The engine version (Culex). */
  get version (): string {
    return VERSION
  }

  /** Number of connected clients. */
  get connectedClients (): number {
    return this.engine.stats.clientsConnected
  }

  /** Connected clients by id (a fresh object on each read). */
  get clients (): Record<string, AedesClient> {
    const out: Record<string, AedesClient> = Object.create(null) as Record<string, AedesClient>
    for (const [id, w] of this.#connected) out[id] = w
    return out
  }

  // ───────── hooks: settable after construction, as in Aedes ─────────

  get preConnect (): PreConnectHandler | undefined { return this.#preConnect }
  set preConnect (fn: PreConnectHandler | undefined) { this.#preConnect = fn }

  get authenticate (): AuthenticateHandler | undefined { return this.#authenticate }
  set authenticate (fn: AuthenticateHandler | undefined) {
    this.#authenticate = fn
    this.#install('authenticate', fn === undefined ? undefined : this.#onAuthenticate)
  }

  get authorizePublish (): AuthorizePublishHandler | undefined { return this.#authorizePublish }
  set authorizePublish (fn: AuthorizePublishHandler | undefined) {
    this.#authorizePublish = fn
    this.#install('authorizePublish', fn === undefined ? undefined : this.#onAuthorizePublish)
  }

  get authorizeSubscribe (): AuthorizeSubscribeHandler | undefined { return this.#authorizeSubscribe }
  set authorizeSubscribe (fn: AuthorizeSubscribeHandler | undefined) {
    this.#authorizeSubscribe = fn
    this.#install('authorizeSubscribe', fn === undefined ? undefined : this.#onAuthorizeSubscribe)
  }

  get authorizeForward (): AuthorizeForwardHandler | undefined { return this.#authorizeForward }
  set authorizeForward (fn: AuthorizeForwardHandler | undefined) {
    this.#authorizeForward = fn
    this.#install('authorizeForward', fn === undefined ? undefined : this.#onAuthorizeForward)
  }

  get published (): PublishedHandler | undefined { return this.#published }
  set published (fn: PublishedHandler | undefined) {
    this.#published = fn
    this.#syncPublish()
  }

  // the engine reads its hooks object on every use, so a hook can come and go at run time
  #install<K extends keyof BrokerHooks> (name: K, hook: BrokerHooks[K] | undefined): void {
    if (hook === undefined) delete this.#hooks[name]
    else this.#hooks[name] = hook
  }

  #wrap (c: Client): AedesClient {
    let w = this.#clients.get(c)
    if (w === undefined) {
      // a connection not made by handle() cannot happen; keep a view anyway
      w = new AedesClient(this, c, undefined as unknown as Duplex, undefined)
      this.#clients.set(c, w)
    }
    return w
  }

  /** Emit a hook's error as Aedes does, and drop the engine's generic error for the same refusal. */
  #hookError (c: Client, err: HookError): void {
    this.#replaced.add(c)
    const w = this.#wrap(c)
    this.emit(w.registered ? 'clientError' : 'connectionError', w, err)
  }

  #onEngineError (c: Client, err: BrokerError): void {
    if (err.code === 'BROKER_ERR_NOT_AUTHORIZED' && this.#replaced.has(c)) {
      this.#replaced.delete(c)
      return
    }
    const w = this.#wrap(c)
    if (err.code === 'BROKER_ERR_KEEPALIVE_TIMEOUT') this.emit('keepaliveTimeout', w)
    this.emit(w.registered ? 'clientError' : 'connectionError', w, err)
  }

  readonly #onPreConnect = (c: Client, packet: ConnectPacket): AuthResult | Promise<AuthResult> => {
    const w = this.#wrap(c)
    w.clean = packet.clean
    const fn = this.#preConnect
    if (fn === undefined) {
      w.registered = true
      w.connecting = true
      return true
    }
    return new Promise<AuthResult>((resolve) => {
      let called = false
      const callback = (err: HookError | null | undefined, ok?: boolean): void => {
        if (called) return
        called = true
        if (err !== null && err !== undefined) {
          // Aedes: the error goes to connectionError and the connection closes without CONNACK
          this.#hookError(c, err)
          c.close()
          resolve(false)
          return
        }
        if (ok === true) {
          w.registered = true
          w.connecting = true
          resolve(true)
          return
        }
        resolve(false)
      }
      try {
        fn.call(this, w, packet, callback)
      } catch (err) {
        callback(err as HookError)
      }
    })
  }

  readonly #onAuthenticate = (c: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthResult> => {
    const fn = this.#authenticate!
    return new Promise<AuthResult>((resolve) => {
      let called = false
      const callback = (err: HookError | null | undefined, ok?: boolean | null): void => {
        if (called) return
        called = true
        if (err === null || err === undefined) {
          resolve(ok === true || (ok !== false && ok !== null && ok !== undefined && Boolean(ok)))
          return
        }
        const reasonCode = reasonCodeOf(err, DEFAULT_AUTH_REFUSAL)
        err.errorCode = returnCodeOf(reasonCode)
        this.#hookError(c, err)
        resolve({ reasonCode })
      }
      try {
        fn.call(this, this.#wrap(c), username, password, callback)
      } catch (err) {
        callback(err as HookError)
      }
    })
  }

  readonly #onAuthorizePublish = (c: Client, packet: PublishPacket): Promise<boolean> => {
    const fn = this.#authorizePublish!
    return new Promise<boolean>((resolve) => {
      let called = false
      const callback = (err?: HookError | null): void => {
        if (called) return
        called = true
        if (err === null || err === undefined) {
          resolve(true)
          return
        }
        // Aedes: the error is emitted and the connection closed, no negative ack [MQTT-3.3.5-2];
        // a 5.0 client learns why from the DISCONNECT reason code
        this.#hookError(c, err)
        c.close(reasonCodeOf(err, 0x87))
        resolve(false)
      }
      try {
        fn.call(this, this.#wrap(c), packet.properties === undefined ? packet : { ...packet, properties: aedesProperties(packet.properties) }, callback)
      } catch (err) {
        callback(err as HookError)
      }
    })
  }

  readonly #onAuthorizeSubscribe = (c: Client, sub: Subscription): Promise<boolean | number> => {
    const fn = this.#authorizeSubscribe!
    // a copy: Aedes handlers may change the object they get
    const copy: AedesSubscription = { topic: sub.topic, qos: sub.qos }
    if (sub.nl !== undefined) copy.nl = sub.nl
    if (sub.rap !== undefined) copy.rap = sub.rap
    if (sub.rh !== undefined) copy.rh = sub.rh
    return new Promise<boolean | number>((resolve) => {
      let called = false
      const callback = (err: HookError | null | undefined, granted?: AedesSubscription | null): void => {
        if (called) return
        called = true
        if (err !== null && err !== undefined) {
          // Aedes: the error is emitted and the connection closed (no SUBACK)
          this.#hookError(c, err)
          c.close(reasonCodeOf(err, 0x87))
          resolve(false)
          return
        }
        // null (or nothing): this subscription is refused, SUBACK 128 / 0x87 [MQTT-3.9.3]
        if (granted === null || granted === undefined || typeof granted !== 'object') {
          resolve(false)
          return
        }
        if (granted.topic !== sub.topic) {
          this.emit('clientError', this.#wrap(c), new AedesError('AEDES_ERR_SUBSCRIPTION_CHANGED',
            `authorizeSubscribe changed the topic ${JSON.stringify(sub.topic)} to ${JSON.stringify(granted.topic)}: not supported, the subscription is refused`))
          resolve(false)
          return
        }
        const qos = granted.qos
        resolve(qos === sub.qos || typeof qos !== 'number' ? true : qos)
      }
      try {
        fn.call(this, this.#wrap(c), copy, callback)
      } catch (err) {
        callback(err as HookError)
      }
    })
  }

  readonly #onAuthorizeForward = (c: Client, m: StoredMessage): StoredMessage | null => {
    const fn = this.#authorizeForward
    if (fn === undefined) return m
    const p = this.#packet(m)
    const topic = p.topic
    const payload = p.payload
    let out: AedesPacket | null | undefined
    try {
      out = fn.call(this, this.#wrap(c), p)
    } catch (err) {
      this.emit('clientError', this.#wrap(c), err as Error)
      return null
    }
    if (out === null || out === undefined) return null
    if (out === p && p.topic === topic && p.payload === payload) return m
    const fwd: StoredMessage = { topic: out.topic, payload: toBuffer(out.payload), qos: m.qos, retain: m.retain }
    if (m.properties !== undefined) fwd.properties = m.properties
    if (m.expiresAt !== undefined) fwd.expiresAt = m.expiresAt
    if (m.origin !== undefined) fwd.origin = m.origin
    return fwd
  }

  #packet (m: StoredMessage): AedesPacket {
    const p: AedesPacket = {
      cmd: 'publish',
      topic: m.topic,
      payload: m.payload,
      qos: m.qos,
      retain: m.retain,
      dup: false,
      brokerId: this.id,
      brokerCounter: ++this.#counter
    }
    if (m.properties !== undefined) p.properties = aedesProperties(m.properties)
    if (m.origin !== undefined) p.clientId = m.origin
    return p
  }

  readonly #publishListener = (m: StoredMessage, c: Client | null): void => { this.#onPublish(m, c) }
  #listening = false
  readonly #syncPublish = (): void => {
    const need = this.#subs.size > 0 || this.#published !== undefined || this.listenerCount('publish') > 0
    if (need === this.#listening) return
    this.#listening = need
    if (need) this.engine.on('publish', this.#publishListener)
    else this.engine.removeListener('publish', this.#publishListener)
  }

  #onPublish (m: StoredMessage, c: Client | null): void {
    const hasSubs = this.#subs.size > 0
    const published = this.#published
    if (!hasSubs && published === undefined && this.listenerCount('publish') === 0) return
    const packet = this.#packet(m)
    const client = c === null ? null : this.#wrap(c)
    if (hasSubs) {
      // match() returns a copy, so a subscriber may (un)subscribe or publish from inside
      for (const fn of this.#subs.match(m.topic)) {
        try {
          fn(packet, noop)
        } catch (err) {
          if (this.listenerCount('error') > 0) this.emit('error', err as Error)
        }
      }
    }
    if (published !== undefined) {
      try {
        published.call(this, packet, client, noop)
      } catch (err) {
        if (this.listenerCount('error') > 0) this.emit('error', err as Error)
      }
    }
    this.emit('publish', packet, client)
  }

  // ───────── in-process API ─────────

  /**
   * Publish as the broker (bypasses `authorizePublish`). `callback(error)` runs once retained
   * storage and offline queues accepted it. `aedes.publish(packet, client, callback)` is
   * accepted too (the client is ignored: the message counts as the broker's).
   */
  publish (packet: PublishInput, client?: AedesClient | null | ((err?: Error | null) => void), callback?: (err?: Error | null) => void): void {
    const done = typeof client === 'function' ? client : callback ?? noop
    if (typeof packet !== 'object' || packet === null || typeof packet.topic !== 'string') {
      queueMicrotask(() => { done(new AedesError('AEDES_ERR_TOPIC', 'publish: expected a packet with a string topic')) })
      return
    }
    const input: Parameters<Broker['publish']>[0] = { topic: packet.topic, payload: toBuffer(packet.payload), qos: packet.qos ?? 0, retain: packet.retain ?? false }
    if (packet.properties !== undefined) input.properties = packet.properties
    let p: Promise<void>
    try {
      p = this.engine.publish(input)
    } catch (err) {
      p = Promise.reject(err)
    }
    p.then(() => { done(null) }, (err: unknown) => { done(err as Error) })
  }

  /**
   * Subscribe an in-process function to `topic` (an MQTT filter; bypasses
   * `authorizeSubscribe`). `(topic, fn)` is the key: the same pair twice is one subscription.
   * `deliverfunc(packet, cb)` is called for every message routed by this broker whose topic
   * matches; `cb` may be called or not (there is no back-pressure, see MIGRATION.md).
   */
  subscribe (topic: string, deliverfunc: DeliverFunc, callback?: (err?: Error | null) => void): void {
    const done = callback ?? noop
    const bad = typeof topic === 'string' ? validateFilter(topic, { maxLevels: this.engine.limits.maxTopicLevels }) : new Error('expected a string')
    if (bad !== null) {
      queueMicrotask(() => { done(new AedesError('AEDES_ERR_TOPIC', `subscribe: invalid topic filter ${JSON.stringify(topic)}: ${bad.message}`, { cause: bad })) })
      return
    }
    this.#subs.add(topic, deliverfunc)
    this.#syncPublish()
    queueMicrotask(() => { done(null) })
  }

  /** Remove an in-process subscription made with the same `topic` and `deliverfunc`. */
  unsubscribe (topic: string, deliverfunc: DeliverFunc, callback?: (err?: Error | null) => void): void {
    if (typeof topic === 'string') this.#subs.remove(topic, deliverfunc)
    this.#syncPublish()
    const done = callback ?? noop
    queueMicrotask(() => { done(null) })
  }

  /**
   * Disconnect every client and stop. A store passed as `persistence` stays open (close it
   * yourself); the engine's own MemoryStore is closed. Emits `closed`, then calls back.
   */
  close (callback: (err?: Error | null) => void = noop): void {
    if (this.engine.closed) {
      this.closed = true
      queueMicrotask(() => { callback() })
      return
    }
    this.closed = true
    this.engine.close().then(() => {
      this.emit('closed')
      callback()
    }, (err: unknown) => {
      this.emit('closed')
      callback(err as Error)
    })
  }
}

/** `Aedes.createBroker(options)` as a function. */
export function createBroker (opts: AedesOptions = {}): Promise<Aedes> {
  return Aedes.createBroker(opts)
}

/**
 * Properties as Aedes code sees them: the engine keeps user properties as ordered
 * `[name, value]` pairs; Aedes (mqtt-packet) gives them as an object, a repeated name's
 * values in an array.
 */
function aedesProperties (props: PublishProperties): PublishProperties {
  const up = props.userProperties
  if (!Array.isArray(up)) return props
  const obj: Record<string, string | string[]> = Object.create(null)
  for (const [name, value] of up) {
    const had = obj[name]
    obj[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
  }
  return { ...props, userProperties: obj }
}
