/**
 * `Server`: Mosca's `new Server(settings)` over the Culex engine. It reads Mosca's settings
 * (legacy `port`/`secure`/`http`/`https` or modern `interfaces`), opens the listeners, the
 * persistence and the backend, and translates Mosca's callbacks and events to and from the
 * engine's hooks and events.
 */
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer as createHttp, type Server as HttpServer } from 'node:http'
import { createServer as createHttps } from 'node:https'
import { createServer as createNet, type Server as NetServer, type Socket, type AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import type { Duplex } from 'node:stream'
import { createServer as createTls, type TLSSocket } from 'node:tls'
import {
  Broker, type AuthResult, type BrokerHooks, type BrokerLimits, type BrokerOptions, type Bus, type Client,
  type ConnectionInfo, type Logger, type Store, type StoredMessage, type Transport
} from '@culex/broker'
import type { ConnectPacket, PublishPacket, QoS, Subscription } from '@culex/packet'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { MoscaError } from './errors.ts'
import { BUNDLE_PATH, findClientBundle, httpHandler } from './http.ts'
import { checkBackend, openBus, openPersistence, resolveFactory, type BackendSettings, type PersistenceSettings } from './persistence.ts'

/** TLS files, as Mosca's `secure` / `credentials`. */
export interface Credentials {
  keyPath: string
  certPath: string
  caPaths?: string[]
  requestCert?: boolean
  rejectUnauthorized?: boolean
  passphrase?: string
}

/** One listener of Mosca's modern `interfaces` setting. */
export interface InterfaceSettings {
  type: 'mqtt' | 'mqtts' | 'http' | 'https'
  port?: number
  host?: string
  credentials?: Credentials
  bundle?: boolean
  static?: string
}

/** Mosca's settings (what `new mosca.Server(settings)` accepted). */
export interface MoscaSettings {
  id?: string
  port?: number
  host?: string
  secure?: Partial<Credentials> & { port?: number }
  allowNonSecure?: boolean
  credentials?: Credentials
  http?: { port?: number, bundle?: boolean, static?: string }
  https?: { port?: number, bundle?: boolean, static?: string }
  onlyHttp?: boolean
  interfaces?: InterfaceSettings[]
  persistence?: PersistenceSettings
  backend?: BackendSettings
  ascoltatore?: never
  stats?: boolean
  maxInflightMessages?: number
  maxConnections?: number
  /** Any Culex engine limit (wins over the Mosca names). */
  limits?: BrokerLimits
  /** A logger instance (pino-like) is given to the engine; Mosca's pino options are ignored. */
  logger?: unknown
  /** Accepted and ignored (see MIGRATION.md). */
  publishNewClient?: boolean
  publishClientDisconnect?: boolean
  publishSubscriptions?: boolean
  onQoS2publish?: string
}

/** A PUBLISH as Mosca's `published` event and hook see it. */
export interface MoscaPacket {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  messageId: string
}

/** The client object given to callbacks and events. */
export class MoscaClient {
  readonly #c: Client
  /** Clean session flag from CONNECT. */
  clean = true
  /** Free for the application (Mosca examples store the authenticated user here). */
  user: unknown = undefined

  /** @internal */
  constructor (c: Client) {
    this.#c = c
  }

  get id (): string { return this.#c.id }
  get username (): string | undefined { return this.#c.username }
  get protocolVersion (): number { return this.#c.protocolVersion }
  get connected (): boolean { return this.#c.connected }
  /** The engine's view of this client. */
  get engineClient (): Client { return this.#c }

  /** Close the connection; `callback` runs at once. */
  close (callback?: () => void, _reason?: string): void {
    this.#c.close()
    if (callback !== undefined) queueMicrotask(callback)
  }
}

type Cb<T> = (err: Error | null | undefined, value?: T) => void
export type AuthenticateFn = (client: MoscaClient, username: string | undefined, password: Buffer | undefined, callback: Cb<boolean>) => void
export type AuthorizePublishFn = (client: MoscaClient, topic: string, payload: Buffer, callback: Cb<boolean | 'ignore' | Buffer>) => void
export type AuthorizeSubscribeFn = (client: MoscaClient, topic: string, callback: Cb<boolean>) => void
export type PublishedFn = (packet: MoscaPacket, client: MoscaClient | null, callback: (err?: Error | null) => void) => void

/** Events of {@link Server}. */
export interface MoscaEvents {
  ready: []
  clientConnected: [client: MoscaClient]
  clientDisconnecting: [client: MoscaClient]
  clientDisconnected: [client: MoscaClient]
  published: [packet: MoscaPacket, client: MoscaClient | null]
  subscribed: [topic: string, client: MoscaClient]
  unsubscribed: [topic: string, client: MoscaClient]
  clientError: [error: Error, client: MoscaClient]
  error: [error: Error]
  closed: []
}

interface Listener {
  type: InterfaceSettings['type']
  port: number
  host: string | undefined
  credentials: Credentials | undefined
  bundle: boolean
  static: string | undefined
}

const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, http: 3000, https: 3001 } as const
const UNSUPPORTED = ['ascoltatore'] as const

function noop (): void {}

/** Mosca's settings, legacy or modern, as a list of listeners. */
export function listenersOf (s: MoscaSettings): Listener[] {
  const credentials = s.credentials ?? (s.secure?.keyPath !== undefined && s.secure.certPath !== undefined ? s.secure as Credentials : undefined)
  const out: Listener[] = []
  const add = (type: Listener['type'], port: number | undefined, host: string | undefined, extra: { bundle?: boolean, static?: string, credentials?: Credentials } = {}): void => {
    const creds = extra.credentials ?? credentials
    if ((type === 'mqtts' || type === 'https') && creds === undefined) {
      throw new MoscaError('MOSCA_ERR_SETTINGS', `${type === 'mqtts' ? 'secure' : 'https'}: expected TLS credentials (secure.keyPath and secure.certPath, or credentials)`)
    }
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
      throw new MoscaError('MOSCA_ERR_SETTINGS', `${type} port: expected an integer 0..65535, got ${String(port)}`)
    }
    out.push({ type, port: port ?? DEFAULT_PORTS[type], host: host ?? s.host ?? undefined, credentials: creds, bundle: extra.bundle === true, static: extra.static })
  }
  if (s.interfaces !== undefined) {
    for (const i of s.interfaces) {
      if (!(i.type in DEFAULT_PORTS)) throw new MoscaError('MOSCA_ERR_SETTINGS', `interfaces[].type: expected mqtt, mqtts, http or https, got ${String(i.type)}`)
      add(i.type, i.port, i.host, { ...(i.bundle !== undefined ? { bundle: i.bundle } : {}), ...(i.static !== undefined ? { static: i.static } : {}), ...(i.credentials !== undefined ? { credentials: i.credentials } : {}) })
    }
    return out
  }
  if (s.onlyHttp !== true && (s.secure === undefined || s.allowNonSecure === true)) add('mqtt', s.port, s.host)
  if (s.onlyHttp !== true && s.secure !== undefined) add('mqtts', s.secure.port, s.host)
  if (s.http !== undefined) add('http', s.http.port, s.host, s.http)
  if (s.https !== undefined) add('https', s.https.port, s.host, s.https)
  return out
}

/**
 * A Mosca server over the Culex engine.
 *
 * @example
 * ```ts
 * import { Server } from '@culex/mosca'
 * const server = new Server({ port: 1883 })
 * server.on('ready', () => console.log('Mosca server is up and running'))
 * ```
 */
export class Server extends EventEmitter<MoscaEvents> {
  /** Broker id (`settings.id`, else `mosca-<hostname>` with a persistence, else random). */
  id: string
  readonly opts: MoscaSettings
  /** The engine (set once `ready` fired). */
  engine: Broker | undefined = undefined
  /** The listening servers (net, tls, http, https). */
  readonly servers: Array<NetServer | HttpServer> = []
  closed = false
  readonly #listeners: Listener[]
  readonly #hooks: BrokerHooks
  readonly #clients = new WeakMap<Client, MoscaClient>()
  readonly #connected = new Map<string, MoscaClient>()
  readonly #wss: WebSocketServer[] = []
  #store: Store | undefined = undefined
  #bus: Bus | undefined = undefined
  #counter = 0
  readonly #starting: Promise<void>
  #authenticate: AuthenticateFn | undefined
  #authorizePublish: AuthorizePublishFn | undefined
  #authorizeSubscribe: AuthorizeSubscribeFn | undefined
  #published: PublishedFn | undefined

  /**
   * @param settings - Mosca's settings
   * @param callback - called with (err) if starting fails, or (null, server) once ready
   * @throws MoscaError `MOSCA_ERR_SETTINGS` for a setting Culex cannot honour (when no callback is given)
   */
  constructor (settings: MoscaSettings = {}, callback?: (err: Error | null, server?: Server) => void) {
    super()
    this.opts = settings
    this.#hooks = { preConnect: this.#onPreConnect }
    let listeners: Listener[] = []
    let error: Error | null = null
    try {
      for (const k of UNSUPPORTED) {
        if ((settings as Record<string, unknown>)[k] !== undefined) throw new MoscaError('MOSCA_ERR_SETTINGS', `${k}: not supported; use backend: { type: 'redis', ... } for a cluster`)
      }
      listeners = listenersOf(settings)
      checkBackend(settings.backend)
      if (settings.persistence !== undefined) resolveFactory(settings.persistence)
    } catch (err) {
      if (callback === undefined) throw err
      error = err as Error
    }
    this.#listeners = listeners
    this.id = settings.id ?? (settings.persistence !== undefined ? `mosca-${hostname()}` : '')
    if (error !== null) {
      const e = error
      this.#starting = Promise.resolve()
      queueMicrotask(() => { callback!(e) })
      return
    }
    this.#starting = this.#start().then(() => {
      this.emit('ready')
      callback?.(null, this)
    }, (err: unknown) => {
      this.#cleanup().catch(noop)
      if (callback !== undefined) callback(err as Error)
      else if (this.listenerCount('error') > 0) this.emit('error', err as Error)
      else queueMicrotask(() => { throw err })
    })
  }

  async #start (): Promise<void> {
    const s = this.opts
    const limits: BrokerLimits = {}
    if (s.maxInflightMessages !== undefined) limits.maxInflight = s.maxInflightMessages
    if (s.maxConnections !== undefined) limits.maxConnections = s.maxConnections
    if (s.persistence !== undefined) {
      const p = await openPersistence(s.persistence)
      this.#store = p.store
      limits.maxSessionExpiryInterval = p.maxSessionExpiryInterval
    }
    if (checkBackend(s.backend) === 'redis') this.#bus = await openBus(s.backend!, s.id)
    Object.assign(limits, s.limits)
    const opts: BrokerOptions = this.#hooks
    opts.limits = limits
    opts.sysInterval = s.stats === true ? 10 : 0
    if (this.id !== '') opts.id = this.id
    if (this.#store !== undefined) opts.store = this.#store
    if (this.#bus !== undefined) opts.bus = this.#bus
    const logger = s.logger as Partial<Logger> | undefined
    if (logger !== undefined && logger !== null && typeof logger.debug === 'function' && typeof logger.info === 'function' &&
      typeof logger.warn === 'function' && typeof logger.error === 'function') opts.logger = logger as Logger
    const engine = new Broker(opts)
    this.engine = engine
    this.id = engine.id
    this.#wire(engine)
    await engine.ready()
    const bundle = this.#listeners.some((l) => l.bundle) ? findClientBundle() : undefined
    if (this.#listeners.some((l) => l.bundle) && bundle === undefined) {
      throw new MoscaError('MOSCA_ERR_PACKAGE', 'http.bundle: expected @culex/client to be installed and built (it provides the browser bundle)')
    }
    for (const l of this.#listeners) await this.#listen(l, bundle)
  }

  async #listen (l: Listener, bundle: string | undefined): Promise<void> {
    let server: NetServer | HttpServer
    const tlsOpts = (): Record<string, unknown> => {
      const c = l.credentials!
      const o: Record<string, unknown> = { key: readFileSync(c.keyPath), cert: readFileSync(c.certPath) }
      if (c.caPaths !== undefined) o.ca = c.caPaths.map((p) => readFileSync(p))
      if (c.requestCert !== undefined) o.requestCert = c.requestCert
      if (c.rejectUnauthorized !== undefined) o.rejectUnauthorized = c.rejectUnauthorized
      if (c.passphrase !== undefined) o.passphrase = c.passphrase
      return o
    }
    if (l.type === 'mqtt') {
      server = createNet((sock) => { this.#handle(sock, 'tcp', sock) })
    } else if (l.type === 'mqtts') {
      server = createTls(tlsOpts(), (sock) => { this.#handle(sock, 'tls', sock) })
    } else {
      const handler = httpHandler({ bundle: l.bundle ? bundle : undefined, staticDir: l.static })
      server = l.type === 'http' ? createHttp(handler) : createHttps(tlsOpts(), handler)
      this.attachHttpServer(server as HttpServer, undefined, l.type === 'https' ? 'wss' : 'ws')
    }
    server.on('error', (err) => { if (this.listenerCount('error') > 0) this.emit('error', err) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(l.port, l.host, () => {
        server.removeListener('error', reject)
        resolve()
      })
    })
    this.servers.push(server)
  }

  #handle (stream: Duplex, transport: Transport, sock: Socket | TLSSocket | undefined): void {
    const engine = this.engine
    if (engine === undefined || this.closed) {
      stream.destroy()
      return
    }
    const info: ConnectionInfo = { transport }
    if (sock?.remoteAddress !== undefined) info.remoteAddress = sock.remoteAddress
    if (sock?.remotePort !== undefined) info.remotePort = sock.remotePort
    engine.handle(stream, info)
  }

  /** The port each listener got (useful with port 0), by type. */
  get ports (): Partial<Record<InterfaceSettings['type'], number>> {
    const out: Partial<Record<InterfaceSettings['type'], number>> = {}
    this.servers.forEach((srv, i) => {
      const a = srv.address() as AddressInfo | null
      const l = this.#listeners[i]
      if (a !== null && l !== undefined) out[l.type] ??= a.port
    })
    return out
  }

  /** Connected clients by id. */
  get clients (): Record<string, MoscaClient> {
    const out: Record<string, MoscaClient> = Object.create(null) as Record<string, MoscaClient>
    for (const [id, c] of this.#connected) out[id] = c
    return out
  }

  /** Serve MQTT over WebSocket on an existing HTTP(S) server (on `path`, or any path). */
  attachHttpServer (server: HttpServer, path?: string, transport: Transport = 'ws'): void {
    const wss = new WebSocketServer({ server, ...(path !== undefined ? { path } : {}) })
    wss.on('error', () => {})
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws)
      stream.on('error', noop)
      const info = req.socket
      this.#handle(stream, transport, info)
    })
    this.#wss.push(wss)
  }

  // ───────── callbacks (assign to override, as in Mosca) ─────────

  get authenticate (): AuthenticateFn | undefined { return this.#authenticate }
  set authenticate (fn: AuthenticateFn | undefined) {
    this.#authenticate = fn
    this.#install('authenticate', fn === undefined ? undefined : this.#onAuthenticate)
  }

  get authorizePublish (): AuthorizePublishFn | undefined { return this.#authorizePublish }
  set authorizePublish (fn: AuthorizePublishFn | undefined) {
    this.#authorizePublish = fn
    this.#install('authorizePublish', fn === undefined ? undefined : this.#onAuthorizePublish)
  }

  get authorizeSubscribe (): AuthorizeSubscribeFn | undefined { return this.#authorizeSubscribe }
  set authorizeSubscribe (fn: AuthorizeSubscribeFn | undefined) {
    this.#authorizeSubscribe = fn
    this.#install('authorizeSubscribe', fn === undefined ? undefined : this.#onAuthorizeSubscribe)
  }

  get published (): PublishedFn | undefined { return this.#published }
  set published (fn: PublishedFn | undefined) {
    this.#published = fn
    this.#syncPublish()
  }

  #install<K extends keyof BrokerHooks> (name: K, hook: BrokerHooks[K] | undefined): void {
    if (hook === undefined) delete this.#hooks[name]
    else this.#hooks[name] = hook
  }

  #wrap (c: Client): MoscaClient {
    let w = this.#clients.get(c)
    if (w === undefined) {
      w = new MoscaClient(c)
      this.#clients.set(c, w)
    }
    return w
  }

  #ask<T> (c: Client, call: (cb: Cb<T>) => void): Promise<{ err: Error | null, value: T | undefined }> {
    return new Promise((resolve) => {
      let called = false
      const cb: Cb<T> = (err, value) => {
        if (called) return
        called = true
        resolve({ err: err ?? null, value })
      }
      try {
        call(cb)
      } catch (err) {
        cb(err as Error)
      }
    }).then((r) => {
      const res = r as { err: Error | null, value: T | undefined }
      if (res.err !== null) this.emit('clientError', res.err, this.#wrap(c))
      return res
    })
  }

  readonly #onPreConnect = (c: Client, packet: ConnectPacket): AuthResult => {
    this.#wrap(c).clean = packet.clean
    return true
  }

  // Mosca: an error answers return code 4 (bad user name or password), false answers 5
  readonly #onAuthenticate = async (c: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthResult> => {
    const fn = this.#authenticate!
    const { err, value } = await this.#ask<boolean>(c, (cb) => { fn.call(this, this.#wrap(c), username, password, cb) })
    if (err !== null) return { reasonCode: 0x86 }
    return value === true ? true : { reasonCode: 0x87 }
  }

  // Mosca: an error or false closes the connection; 'ignore' acknowledges without publishing
  readonly #onAuthorizePublish = async (c: Client, packet: PublishPacket): Promise<boolean | number> => {
    const fn = this.#authorizePublish!
    const { err, value } = await this.#ask<boolean | 'ignore' | Buffer>(c, (cb) => { fn.call(this, this.#wrap(c), packet.topic, packet.payload, cb) })
    if (value === true && err === null) return true
    if (value === 'ignore' && err === null) return c.protocolVersion === 5 ? 0x10 : false
    if (Buffer.isBuffer(value) && err === null) {
      this.emit('clientError', new MoscaError('MOSCA_ERR_UNSUPPORTED', `authorizePublish answered a new payload for ${JSON.stringify(packet.topic)}: not supported, the message is acknowledged and dropped`), this.#wrap(c))
      return c.protocolVersion === 5 ? 0x83 : false
    }
    c.close(0x87)
    return false
  }

  // Mosca: false refuses the filter (SUBACK 0x80); an error closes the connection
  readonly #onAuthorizeSubscribe = async (c: Client, sub: Subscription): Promise<boolean> => {
    const fn = this.#authorizeSubscribe!
    const { err, value } = await this.#ask<boolean>(c, (cb) => { fn.call(this, this.#wrap(c), sub.topic, cb) })
    if (err !== null) {
      c.close(0x87)
      return false
    }
    return value === true
  }

  #listening = false
  readonly #publishListener = (m: StoredMessage, c: Client | null): void => {
    const hook = this.#published
    const p = this.#packet(m)
    const w = c === null ? null : this.#wrap(c)
    if (hook !== undefined) {
      try {
        hook.call(this, p, w, noop)
      } catch (err) {
        if (this.listenerCount('error') > 0) this.emit('error', err as Error)
      }
    }
    this.emit('published', p, w)
  }

  readonly #syncPublish = (): void => {
    const engine = this.engine
    if (engine === undefined) return
    const need = this.#published !== undefined || this.listenerCount('published') > 0
    if (need === this.#listening) return
    this.#listening = need
    if (need) engine.on('publish', this.#publishListener)
    else engine.removeListener('publish', this.#publishListener)
  }

  #packet (m: StoredMessage): MoscaPacket {
    return { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, messageId: `${this.id}-${++this.#counter}` }
  }

  #wire (engine: Broker): void {
    engine.on('client', (c) => {
      const w = this.#wrap(c)
      this.#connected.set(c.id, w)
      this.emit('clientConnected', w)
    })
    engine.on('clientDisconnect', (c) => {
      const w = this.#wrap(c)
      if (this.#connected.get(c.id) === w) this.#connected.delete(c.id)
      this.emit('clientDisconnecting', w)
      this.emit('clientDisconnected', w)
    })
    engine.on('clientError', (c, err) => {
      if (this.listenerCount('clientError') > 0) this.emit('clientError', err, this.#wrap(c))
    })
    engine.on('error', (err) => { if (this.listenerCount('error') > 0) this.emit('error', err) })
    engine.on('subscribe', (subs, c) => {
      if (this.listenerCount('subscribed') === 0) return
      const w = this.#wrap(c)
      for (const s of subs) if (s.granted < 0x80) this.emit('subscribed', s.topic, w)
    })
    engine.on('unsubscribe', (topics, c) => {
      if (this.listenerCount('unsubscribed') === 0) return
      const w = this.#wrap(c)
      for (const t of topics) this.emit('unsubscribed', t, w)
    })
    // the engine skips its 'publish' event when nobody listens: listen only while needed
    const self = this as EventEmitter
    self.on('newListener', (name: string | symbol) => {
      if (name !== 'published' || this.#listening) return
      this.#listening = true
      engine.on('publish', this.#publishListener)
    })
    self.on('removeListener', (name: string | symbol) => { if (name === 'published') this.#syncPublish() })
    this.#syncPublish()
  }

  /**
   * Publish as the broker: `{ topic, payload, qos, retain }`. `callback(err, packet)` runs
   * once retained storage and offline queues accepted it. `publish(packet, client, cb)` is
   * accepted too (the client is ignored).
   */
  publish (packet: { topic: string, payload?: Buffer | string | object, qos?: QoS, retain?: boolean }, client?: MoscaClient | null | ((err?: Error | null, packet?: unknown) => void), callback?: (err?: Error | null, packet?: unknown) => void): void {
    const done = typeof client === 'function' ? client : callback ?? noop
    const p = packet.payload
    const payload = Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p) : p === undefined || p === null ? Buffer.alloc(0) : Buffer.from(JSON.stringify(p))
    this.#starting.then(() => {
      const engine = this.engine
      if (engine === undefined) throw new MoscaError('MOSCA_ERR_SETTINGS', 'publish: the server did not start')
      return engine.publish({ topic: packet.topic, payload, qos: packet.qos ?? 0, retain: packet.retain ?? false })
    }).then(() => { done(undefined, { ...packet, payload }) }, (err: unknown) => { done(err as Error) })
  }

  /** Stop listening, disconnect every client, close the persistence and backend; emits `closed`. */
  close (callback: (err?: Error | null) => void = noop): void {
    if (this.closed) {
      queueMicrotask(() => { callback() })
      return
    }
    this.closed = true
    this.#starting.then(() => this.#cleanup()).then(() => {
      this.emit('closed')
      callback()
    }, (err: unknown) => { callback(err as Error) })
  }

  async #cleanup (): Promise<void> {
    for (const wss of this.#wss) wss.close()
    const closing = this.servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => { resolve() })
      ;(s as HttpServer).closeAllConnections?.()
    }))
    await this.engine?.close()
    await Promise.all(closing)
    await this.#store?.close()
    await this.#bus?.close()
  }
}

export { BUNDLE_PATH }
