/**
 * The MQTT client state machine, independent of the transport (Node or browser).
 *
 * Invariants:
 * - A packet identifier is in `#inflight` from the moment its PUBLISH / SUBSCRIBE /
 *   UNSUBSCRIBE is written until the final acknowledgement; ids are never reused while there.
 * - At most the server's Receive Maximum QoS 1/2 PUBLISH are unacknowledged; the others wait
 *   in `#waiting` in order.
 * - Unacknowledged operations survive a reconnect and are resent (PUBLISH with DUP, or
 *   PUBREL for QoS 2 flows past PUBREC). Operations issued while disconnected wait in a
 *   bounded offline queue.
 * - Incoming QoS 2 ids are remembered until PUBREL, across reconnects when the server kept
 *   the session, so a QoS 2 message is delivered once.
 * - Writes are gathered and flushed once per microtask as one buffer: a burst of publishes
 *   costs one socket write.
 * - Received PUBLISH payloads are views into the socket chunk (never reused): copy them only
 *   when you keep many small ones for long.
 */
import { Parser, encode } from '@culex/packet'
import type {
  AuthPacket, ConnackPacket, ConnectPacket, Packet, PacketError, PublishPacket,
  PublishProperties, QoS, SubscribePacket, Subscription as WireSubscription, UnsubscribePacket
} from '@culex/packet'
import { backoffDelay, type ReconnectOptions } from './backoff.ts'
import { Emitter } from './emitter.ts'
import { ClientError, CONNACK_RETURN_CODE_TO_REASON, reasonLabel, type ClientErrorCode } from './errors.ts'
import { MessageStream } from './message-stream.ts'
import { checkTopicFilter, checkTopicName } from './topic.ts'
import type { Transport, TransportFactory, TransportOptions } from './transport.ts'
import type {
  ClientEvents, ClientOptions, ConnectResult, EndOptions, Granted, Message, Payload,
  PublishOptions, PublishResult, SubscribeOptions
} from './types.ts'

const RESOLVED: Promise<void> = Promise.resolve()
const MAX_ID = 65535

const KIND_PUBLISH = 0
const KIND_SUBSCRIBE = 1
const KIND_UNSUBSCRIBE = 2

/** An operation waiting for a packet id, the connection, or its acknowledgement. */
interface Op {
  kind: number
  packet: PublishPacket | SubscribePacket | UnsubscribePacket
  resolve: (value: any) => void
  reject: (err: Error) => void
  /** QoS 2: true once PUBREC arrived and PUBREL was sent. */
  released: boolean
  /** False while a resend after a reconnect waits for the Receive Maximum window. */
  sent: boolean
  result: PublishResult | undefined
  sub: Subscription | undefined
}

const STATE_NEW = 0
const STATE_CONNECTING = 1
const STATE_CONNECTED = 2
const STATE_OFFLINE = 3
const STATE_CLOSED = 4

function toBuffer (p: Payload): Buffer {
  if (typeof p === 'string') return Buffer.from(p)
  if (Buffer.isBuffer(p)) return p
  if (p instanceof Uint8Array) return Buffer.from(p.buffer, p.byteOffset, p.byteLength)
  throw new ClientError('CLIENT_ERR_INVALID_OPTION', `payload: expected a string or Uint8Array, got ${typeof p}`)
}

function randomId (): string {
  let s = 'culex_'
  for (let i = 0; i < 16; i++) s += Math.floor(Math.random() * 16).toString(16)
  return s
}

/**
 * What `subscribe` resolves with: the granted QoS / reason codes, and an async iterator over
 * the messages matching the subscribed filters (buffering from the moment `subscribe` was
 * called, up to `bufferSize` messages).
 */
export class Subscription extends MessageStream {
  /** One entry per filter: granted QoS (0..2) or reason code (≥ 0x80). */
  granted: Granted[] = []
}

/**
 * An MQTT 3.1.1 / 5.0 client with a promise API. Use `Client` from `@culex/client` (Node)
 * or `@culex/client/browser`; this base class takes the transport factory.
 */
export class ClientCore extends Emitter<ClientEvents> {
  readonly #opts: ClientOptions
  readonly #url: URL
  readonly #factory: TransportFactory
  readonly #transportOpts: TransportOptions
  readonly #version: 4 | 5
  readonly #reconnect: Required<ReconnectOptions> | false
  readonly #queueLimit: number
  readonly #autoAlias: boolean

  #clientId: string
  #state = STATE_NEW
  #gen = 0
  #transport: Transport | null = null
  #parser: Parser | null = null
  #attempt = 0
  #everConnected = false
  #sessionPresent = false
  #firstConnect: { resolve: (r: ConnectResult) => void, reject: (e: Error) => void, promise: Promise<ConnectResult> } | null = null
  #closeError: Error | undefined = undefined

  #connectTimer: ReturnType<typeof setTimeout> | undefined = undefined
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined = undefined
  #keepaliveTimer: ReturnType<typeof setInterval> | undefined = undefined
  #keepaliveMs: number
  #sentSinceTick = false
  #pingSentAt = 0

  #out: Buffer[] = []
  #outBytes = 0
  #flushScheduled = false
  #writable = true
  #drainWaiters: Array<() => void> = []

  #nextId = 1
  readonly #inflight = new Map<number, Op>()
  #inflightPublishes = 0
  #waiting: Op[] = []
  /** Ids of unacknowledged publishes whose resend waits for the Receive Maximum window. */
  #resend: number[] = []
  #offline: Op[] = []
  readonly #incomingQos2 = new Set<number>()
  /** handleMessage: acknowledgements waiting, in arrival order (this connection only). */
  #acks: Array<{ cmd: 'puback' | 'pubrec', id: number, done: boolean }> = []
  /** handleMessage: QoS 2 ids whose handling has not settled (a resend waits for it). */
  readonly #handlingQos2 = new Map<number, Promise<void>>()

  // server limits from CONNACK
  #receiveMaximum = MAX_ID
  #serverMaxPacket = Infinity
  #maximumQoS: QoS = 2
  #retainAvailable = true
  #serverAliasMax = 0
  readonly #outAliases = new Map<string, number>()
  readonly #inAliases = new Map<number, string>()
  readonly #clientAliasMax: number

  readonly #subscriptions = new Map<string, WireSubscription & { properties?: SubscribePacket['properties'] }>()
  readonly #streams = new Set<MessageStream>()

  /**
   * @param opts - {@link ClientOptions}; `url` is required (here or in `connect(url)`)
   * @param transport - the transport factory of the runtime
   * @throws ClientError `CLIENT_ERR_INVALID_OPTION` for a missing/invalid URL or option
   */
  constructor (opts: ClientOptions, transport: TransportFactory) {
    super()
    if (opts.url === undefined) throw new ClientError('CLIENT_ERR_INVALID_OPTION', 'url: expected a URL such as mqtt://localhost:1883, got nothing')
    let url: URL
    try {
      url = new URL(opts.url)
    } catch (err) {
      throw new ClientError('CLIENT_ERR_INVALID_OPTION', `url: expected a URL such as mqtt://localhost:1883, got "${opts.url}"`, { cause: err })
    }
    const version = opts.protocolVersion ?? 5
    if (version !== 4 && version !== 5) throw new ClientError('CLIENT_ERR_INVALID_OPTION', `protocolVersion: expected 4 or 5, got ${String(version)}`)
    const keepalive = opts.keepalive ?? 60
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
      throw new ClientError('CLIENT_ERR_INVALID_OPTION', `keepalive: expected an integer 0..65535 (seconds), got ${String(keepalive)}`)
    }
    if (opts.userProperties !== undefined && opts.userProperties !== 'pairs' && opts.userProperties !== 'object') {
      throw new ClientError('CLIENT_ERR_INVALID_OPTION', `userProperties: expected 'pairs' or 'object', got ${String(opts.userProperties)}`)
    }
    this.#opts = opts
    this.#url = url
    this.#factory = opts.transport ?? transport
    this.#transportOpts = { tls: opts.tls as Record<string, unknown> | undefined, wsOptions: opts.wsOptions, wsProtocol: opts.wsProtocol ?? 'mqtt' }
    this.#version = version
    this.#keepaliveMs = keepalive * 1000
    this.#clientId = opts.clientId ?? randomId()
    this.#reconnect = opts.reconnect === false
      ? false
      : { initialDelay: 100, maxDelay: 30000, factor: 2, jitter: 0.5, ...opts.reconnect }
    this.#queueLimit = opts.offlineQueueLimit ?? 1000
    this.#autoAlias = opts.topicAliases ?? true
    this.#clientAliasMax = version === 5 ? (opts.properties?.topicAliasMaximum ?? 0) : 0
  }

  /** The client identifier (the server-assigned one once CONNACK carried it). */
  get clientId (): string {
    return this.#clientId
  }

  /** The protocol version in use: 4 (3.1.1) or 5. */
  get protocolVersion (): 4 | 5 {
    return this.#version
  }

  /** True while a CONNACK-accepted connection is open. */
  get connected (): boolean {
    return this.#state === STATE_CONNECTED
  }

  /** True once `end()` ran (or the first connect failed). */
  get closed (): boolean {
    return this.#state === STATE_CLOSED
  }

  /** `sessionPresent` of the last CONNACK. */
  get sessionPresent (): boolean {
    return this.#sessionPresent
  }

  /** QoS 1/2 operations (publish, subscribe, unsubscribe) written but not yet acknowledged. */
  get inflightCount (): number {
    return this.#inflight.size
  }

  /** Operations waiting for the connection (offline queue) or for the send window. */
  get queuedCount (): number {
    return this.#offline.length + this.#waiting.length
  }

  /**
   * Opens the connection. Resolves on the first accepted CONNACK; later connection losses
   * reconnect automatically (unless `reconnect: false`).
   * @returns the session-present flag and the CONNACK
   * @throws ClientError `CLIENT_ERR_CONNACK_REFUSED` (with `reasonCode`), `CLIENT_ERR_CONNECT_TIMEOUT`,
   *   `CLIENT_ERR_TRANSPORT`, `CLIENT_ERR_CONNECTION_LOST`, `CLIENT_ERR_CLIENT_CLOSED`, `CLIENT_ERR_AUTH`
   * @example
   * const client = new Client({ url: 'mqtt://localhost:1883' })
   * const { sessionPresent } = await client.connect()
   */
  connect (): Promise<ConnectResult> {
    if (this.#state === STATE_CLOSED && (this.#firstConnect === null || this.#everConnected)) return Promise.reject(this.#closedError())
    if (this.#firstConnect !== null) return this.#firstConnect.promise
    let res!: (r: ConnectResult) => void
    let rej!: (e: Error) => void
    const promise = new Promise<ConnectResult>((resolve, reject) => { res = resolve; rej = reject })
    this.#firstConnect = { resolve: res, reject: rej, promise }
    this.#open()
    return promise
  }

  /**
   * Publishes a message. QoS 0 resolves once written (or, when the socket is backed up,
   * once it drains); QoS 1 resolves on PUBACK; QoS 2 on PUBCOMP. While disconnected the
   * operation waits in the offline queue.
   * @param topic - topic name (no wildcards)
   * @param payload - string (UTF-8) or bytes
   * @param opts - qos (default 0), retain (default false), MQTT 5 properties
   * @returns for QoS 1/2, the acknowledgement's reason code
   * @throws ClientError `CLIENT_ERR_PUBLISH_FAILED` (PUBACK/PUBREC reason ≥ 0x80, in `reasonCode`),
   *   `CLIENT_ERR_INVALID_TOPIC`, `CLIENT_ERR_INVALID_OPTION`, `CLIENT_ERR_PACKET_TOO_LARGE`,
   *   `CLIENT_ERR_NOT_SUPPORTED`, `CLIENT_ERR_QUEUE_FULL`, `CLIENT_ERR_CLIENT_CLOSED`, `CLIENT_ERR_CONNECTION_LOST`
   * @example
   * await client.publish('sensors/1/temp', '21.5', { qos: 1, retain: true })
   */
  publish (topic: string, payload: Payload, opts?: PublishOptions): Promise<PublishResult | undefined> {
    const qos = opts?.qos ?? 0
    const props = opts?.properties
    if (!(props !== undefined && props.topicAlias !== undefined && topic === '')) {
      const bad = checkTopicName(topic)
      if (bad !== undefined) return Promise.reject(new ClientError('CLIENT_ERR_INVALID_TOPIC', `publish: ${bad}`))
    }
    if (qos !== 0 && qos !== 1 && qos !== 2) return Promise.reject(new ClientError('CLIENT_ERR_INVALID_OPTION', `publish: qos must be 0, 1 or 2, got ${String(qos)}`))
    let buf: Buffer
    try {
      buf = toBuffer(payload)
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const packet: PublishPacket = { cmd: 'publish', topic, payload: buf, qos, dup: false, retain: opts?.retain === true }
    if (props !== undefined) packet.properties = props
    if (qos === 0 && this.#state === STATE_CONNECTED) {
      const err = this.#sendPublish(packet)
      if (err !== undefined) return Promise.reject(err)
      return this.#writable ? RESOLVED as Promise<undefined> : this.#drained()
    }
    return new Promise((resolve, reject) => {
      this.#submit({ kind: KIND_PUBLISH, packet, resolve, reject, released: false, sent: true, result: undefined, sub: undefined })
    })
  }

  /**
   * Subscribes to one or more topic filters.
   * @param filters - a filter, an array of filters, or `{ [filter]: SubscribeOptions }`
   * @param opts - options applied to every filter given as a string (qos default 0, nl, rap, rh, properties)
   * @returns a {@link Subscription}: `granted` (QoS or reason code per filter) and an async iterator of matching messages
   * @throws ClientError `CLIENT_ERR_INVALID_TOPIC`, `CLIENT_ERR_QUEUE_FULL`, `CLIENT_ERR_CLIENT_CLOSED`, `CLIENT_ERR_CONNECTION_LOST`
   * @example
   * const sub = await client.subscribe('mqtt/+', { qos: 1 })
   * for await (const msg of sub) console.log(msg.topic, msg.payload.toString())
   */
  subscribe (filters: string | string[] | Record<string, SubscribeOptions>, opts: SubscribeOptions = {}): Promise<Subscription> {
    const entries: Array<[string, SubscribeOptions]> = typeof filters === 'string'
      ? [[filters, opts]]
      : Array.isArray(filters) ? filters.map((f) => [f, opts]) : Object.entries(filters)
    if (entries.length === 0) return Promise.reject(new ClientError('CLIENT_ERR_INVALID_TOPIC', 'subscribe: expected at least one topic filter, got none'))
    const subscriptions: WireSubscription[] = []
    for (const [filter, o] of entries) {
      const bad = checkTopicFilter(filter)
      if (bad !== undefined) return Promise.reject(new ClientError('CLIENT_ERR_INVALID_TOPIC', `subscribe: ${bad}`))
      const qos = o.qos ?? 0
      if (qos !== 0 && qos !== 1 && qos !== 2) return Promise.reject(new ClientError('CLIENT_ERR_INVALID_OPTION', `subscribe: qos must be 0, 1 or 2, got ${String(qos)}`))
      const s: WireSubscription = { topic: filter, qos }
      if (this.#version === 5) {
        s.nl = o.nl === true
        s.rap = o.rap === true
        s.rh = o.rh ?? 0
      }
      subscriptions.push(s)
    }
    const packet: SubscribePacket = { cmd: 'subscribe', messageId: 0, subscriptions }
    const props = opts.properties ?? entries[0]![1].properties
    if (props !== undefined && this.#version === 5) packet.properties = props
    const sub = new Subscription(subscriptions.map((s) => s.topic), (s) => this.#streams.delete(s), opts.bufferSize)
    this.#streams.add(sub)
    return new Promise((resolve, reject) => {
      this.#submit({
        kind: KIND_SUBSCRIBE,
        packet,
        resolve,
        reject: (err) => { sub.close(); reject(err) },
        released: false,
        sent: true,
        result: undefined,
        sub
      })
    })
  }

  /**
   * Unsubscribes from topic filters. Streams whose filters are all unsubscribed end.
   * @param filters - a filter or an array of filters
   * @param opts - MQTT 5 user properties
   * @returns one reason code per filter (MQTT 5; 0 for every filter on 3.1.1)
   * @throws ClientError `CLIENT_ERR_INVALID_TOPIC`, `CLIENT_ERR_QUEUE_FULL`, `CLIENT_ERR_CLIENT_CLOSED`, `CLIENT_ERR_CONNECTION_LOST`
   */
  unsubscribe (filters: string | string[], opts: { properties?: UnsubscribePacket['properties'] } = {}): Promise<number[]> {
    const list = typeof filters === 'string' ? [filters] : filters
    if (list.length === 0) return Promise.reject(new ClientError('CLIENT_ERR_INVALID_TOPIC', 'unsubscribe: expected at least one topic filter, got none'))
    for (const f of list) {
      const bad = checkTopicFilter(f)
      if (bad !== undefined) return Promise.reject(new ClientError('CLIENT_ERR_INVALID_TOPIC', `unsubscribe: ${bad}`))
    }
    for (const f of list) this.#subscriptions.delete(f)
    const packet: UnsubscribePacket = { cmd: 'unsubscribe', messageId: 0, unsubscriptions: list }
    if (opts.properties !== undefined && this.#version === 5) packet.properties = opts.properties
    return new Promise((resolve, reject) => {
      this.#submit({ kind: KIND_UNSUBSCRIBE, packet, resolve, reject, released: false, sent: true, result: undefined, sub: undefined })
    })
  }

  /**
   * An async iterator over received messages whose topic matches `filters` (it does not
   * subscribe). Buffers up to `bufferSize` messages (default 1000) while nobody reads.
   * @example
   * for await (const msg of client.messages('a/+')) { if (msg.topic === 'a/stop') break }
   */
  messages (filters: string | string[], opts: { bufferSize?: number } = {}): MessageStream {
    const list = typeof filters === 'string' ? [filters] : filters
    for (const f of list) {
      const bad = checkTopicFilter(f)
      if (bad !== undefined) throw new ClientError('CLIENT_ERR_INVALID_TOPIC', `messages: ${bad}`)
    }
    const s = new MessageStream(list, (x) => this.#streams.delete(x), opts.bufferSize)
    this.#streams.add(s)
    return s
  }

  /**
   * Sends an MQTT 5 AUTH packet (re-authentication, reason 0x19, by default).
   * @throws ClientError `CLIENT_ERR_NOT_SUPPORTED` on 3.1.1, `CLIENT_ERR_CONNECTION_LOST` when not connected
   */
  reauthenticate (authenticationData: Uint8Array, reasonCode = 0x19): void {
    if (this.#version !== 5) throw new ClientError('CLIENT_ERR_NOT_SUPPORTED', 'reauthenticate: AUTH needs MQTT 5, this client uses 3.1.1')
    if (this.#state !== STATE_CONNECTED) throw new ClientError('CLIENT_ERR_CONNECTION_LOST', 'reauthenticate: not connected')
    const method = this.#opts.properties?.authenticationMethod
    const auth: AuthPacket = { cmd: 'auth', reasonCode, properties: { authenticationData: toBuffer(authenticationData) } }
    if (method !== undefined) auth.properties!.authenticationMethod = method
    this.#write(auth)
  }

  /**
   * Closes the client: sends DISCONNECT (unless `force`), closes the socket, stops
   * reconnecting, ends every message stream and rejects every pending operation with
   * `CLIENT_ERR_CLIENT_CLOSED`. Safe to call twice.
   * @param opts - MQTT 5 reason code (0x04 publishes the will) and properties; `force`
   */
  end (opts: EndOptions = {}): Promise<void> {
    if (this.#state === STATE_CLOSED) return RESOLVED
    const wasConnected = this.#state === STATE_CONNECTED
    this.#state = STATE_CLOSED
    this.#clearTimers()
    const t = this.#transport
    let done: Promise<void> = RESOLVED
    if (t !== null) {
      this.#gen++ // ignore the old transport's events from now on
      done = new Promise<void>((resolve) => {
        const timer = setTimeout(() => { t.destroy(); resolve() }, 2000)
        const finish = (): void => { clearTimeout(timer); resolve() }
        this.#onTransportClosed = finish
      })
      if (wasConnected && opts.force !== true) {
        const d: Packet = { cmd: 'disconnect' }
        if (this.#version === 5) {
          if (opts.reasonCode !== undefined) d.reasonCode = opts.reasonCode
          if (opts.properties !== undefined) d.properties = opts.properties
        }
        this.#write(d)
        this.#flush()
        t.end()
      } else {
        t.destroy()
      }
    }
    this.#failAll(this.#closedError())
    this.#closeStreams()
    this.#parser = null
    return done.then(() => {
      this.#transport = null
      this.emit('end')
    })
  }

  // ── connection lifecycle ───────────────────────────────────────────────────────────

  #onTransportClosed: (() => void) | null = null

  #open (): void {
    this.#state = STATE_CONNECTING
    const gen = ++this.#gen
    this.#closeError = undefined
    this.#acks = []
    this.#parser = new Parser({
      protocolVersion: this.#version,
      ...(this.#opts.maxPacketSize === undefined ? {} : { maxPacketSize: this.#opts.maxPacketSize }),
      userProperties: this.#opts.userProperties ?? 'pairs',
      onPacket: (p) => { if (gen === this.#gen) this.#onPacket(p) },
      onError: (err) => { if (gen === this.#gen) this.#onParseError(err) }
    })
    const parser = this.#parser
    try {
      this.#transport = this.#factory(this.#url, this.#transportOpts, {
        onOpen: () => { if (gen === this.#gen) this.#sendConnect() },
        onData: (chunk) => { if (gen === this.#gen) parser.parse(chunk) },
        onDrain: () => { if (gen === this.#gen) this.#onDrain() },
        onClose: (err) => {
          if (gen === this.#gen) this.#onClose(err)
          else if (this.#onTransportClosed !== null) {
            const f = this.#onTransportClosed
            this.#onTransportClosed = null
            f()
          }
        }
      })
    } catch (err) {
      this.#transport = null
      queueMicrotask(() => { if (gen === this.#gen) this.#onClose(err as Error) })
      return
    }
    this.#connectTimer = setTimeout(() => {
      this.#destroy(new ClientError('CLIENT_ERR_CONNECT_TIMEOUT', `connect: no CONNACK from ${this.#url.host} within ${this.#opts.connectTimeout ?? 30000} ms`))
    }, this.#opts.connectTimeout ?? 30000)
  }

  #sendConnect (): void {
    const o = this.#opts
    const url = this.#url
    const packet: ConnectPacket = {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: this.#version,
      clean: o.clean ?? true,
      keepalive: this.#keepaliveMs / 1000,
      clientId: this.#clientId
    }
    const username = o.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username))
    const password = o.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password))
    if (username !== undefined) packet.username = username
    if (password !== undefined) packet.password = toBuffer(password)
    if (o.will !== undefined) {
      const w = o.will
      packet.will = { topic: w.topic, payload: toBuffer(w.payload), qos: w.qos ?? 0, retain: w.retain === true }
      if (w.properties !== undefined && this.#version === 5) packet.will.properties = w.properties
    }
    if (o.properties !== undefined && this.#version === 5) packet.properties = o.properties
    try {
      this.#write(packet)
    } catch (err) {
      this.#destroy(new ClientError('CLIENT_ERR_INVALID_OPTION', `connect: cannot encode the CONNECT packet: ${(err as Error).message}`, { cause: err }))
    }
  }

  #onConnack (p: ConnackPacket): void {
    if (this.#state !== STATE_CONNECTING) {
      this.#protocolError('unexpected CONNACK on an open connection', 0x82)
      return
    }
    clearTimeout(this.#connectTimer)
    this.#connectTimer = undefined
    const code = this.#version === 5 ? (p.reasonCode ?? 0) : (p.returnCode ?? 0)
    const props = p.properties
    if (code !== 0) {
      const reasonCode = this.#version === 5 ? code : (CONNACK_RETURN_CODE_TO_REASON[code] ?? 0x80)
      const err = new ClientError('CLIENT_ERR_CONNACK_REFUSED',
        `connect: ${this.#url.host} refused the connection with ${reasonLabel(reasonCode)}${props?.reasonString === undefined ? '' : `: ${props.reasonString}`}`,
        { reasonCode, reasonString: props?.reasonString })
      this.#destroy(err)
      return
    }
    this.#state = STATE_CONNECTED
    this.#everConnected = true
    this.#attempt = 0
    this.#sessionPresent = p.sessionPresent
    this.#writable = true
    this.#receiveMaximum = props?.receiveMaximum ?? MAX_ID
    this.#serverMaxPacket = props?.maximumPacketSize ?? Infinity
    this.#maximumQoS = props?.maximumQoS ?? 2
    this.#retainAvailable = props?.retainAvailable ?? true
    this.#serverAliasMax = this.#autoAlias ? (props?.topicAliasMaximum ?? 0) : 0
    this.#outAliases.clear()
    this.#inAliases.clear()
    if (props?.assignedClientIdentifier !== undefined) this.#clientId = props.assignedClientIdentifier
    if (props?.serverKeepAlive !== undefined) this.#keepaliveMs = props.serverKeepAlive * 1000
    if (!p.sessionPresent) this.#incomingQos2.clear()
    this.#startKeepalive()

    // 1. resend what was unacknowledged [MQTT-4.4.0-1], in the original order
    // (within the new Receive Maximum: the rest keep their ids and wait in #resend)
    this.#inflightPublishes = 0
    this.#resend = []
    for (const [id, op] of this.#inflight) {
      if (op.kind === KIND_PUBLISH) {
        if (op.released && !p.sessionPresent) {
          // the server took ownership with PUBREC and has no session left to complete
          this.#inflight.delete(id)
          op.resolve(op.result)
        } else if (this.#inflightPublishes < this.#receiveMaximum) {
          this.#resendPublish(id, op)
        } else {
          op.sent = false
          this.#resend.push(id)
        }
      } else {
        this.#write(op.packet)
      }
    }
    // 2. resubscribe when the server lost the session
    if (!p.sessionPresent && this.#opts.resubscribe !== false && this.#subscriptions.size > 0) {
      for (const s of this.#subscriptions.values()) {
        const { properties, ...wire } = s
        const id = this.#allocId()
        const pkt: SubscribePacket = { cmd: 'subscribe', messageId: id, subscriptions: [wire] }
        if (properties !== undefined) pkt.properties = properties
        this.#inflight.set(id, { kind: KIND_SUBSCRIBE, packet: pkt, resolve: noop, reject: noop, released: false, sent: true, result: undefined, sub: undefined })
        this.#write(pkt)
      }
    }
    // 3. what waited for the window, then the offline queue
    this.#pump()
    const offline = this.#offline
    this.#offline = []
    for (const op of offline) this.#dispatch(op)

    const result: ConnectResult = { sessionPresent: p.sessionPresent, connack: p }
    const first = this.#firstConnect
    if (first !== null && !this.#resolvedFirst) {
      this.#resolvedFirst = true
      first.resolve(result)
    }
    this.emit('connect', result)
  }

  #resolvedFirst = false

  #onClose (err: Error | undefined): void {
    this.#transport = null
    this.#parser = null
    this.#clearTimers()
    this.#out = []
    this.#outBytes = 0
    this.#writable = true
    const drains = this.#drainWaiters
    this.#drainWaiters = []
    for (const d of drains) d()
    const error = this.#closeError ?? err
    if (this.#state === STATE_CLOSED) return
    const wasConnected = this.#state === STATE_CONNECTED
    this.#state = STATE_OFFLINE
    this.emit('close', error)
    if (!this.#everConnected || this.#reconnect === false) {
      const e = error ?? new ClientError('CLIENT_ERR_CONNECTION_LOST', `connection to ${this.#url.host} closed${this.#everConnected ? '' : ' before CONNACK'}`)
      const first = this.#firstConnect
      this.#state = STATE_CLOSED
      if (first !== null && !this.#resolvedFirst) {
        this.#resolvedFirst = true
        first.reject(e)
      } else {
        this.emit('error', e)
      }
      this.#failAll(e)
      this.#closeStreams()
      this.emit('end')
      return
    }
    if (error !== undefined) this.emit('error', error)
    if (wasConnected) this.emit('offline')
    const delay = backoffDelay(this.#attempt++, this.#reconnect)
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined
      if (this.#state !== STATE_OFFLINE) return
      this.emit('reconnect', this.#attempt)
      this.#open()
    }, delay)
  }

  /** Drops the connection (a reconnect follows when allowed); `err` is what gets reported. */
  #destroy (err: Error): void {
    this.#closeError ??= err
    const t = this.#transport
    if (t !== null) t.destroy()
    else this.#onClose(err)
  }

  #onParseError (err: PacketError): void {
    this.#protocolError(`malformed packet from ${this.#url.host}: ${err.message}`, err.reasonCode ?? 0x81, err)
  }

  #protocolError (message: string, reasonCode: number, cause?: unknown): void {
    const err = new ClientError('CLIENT_ERR_PROTOCOL', message, { reasonCode, cause })
    if (this.#version === 5 && this.#state === STATE_CONNECTED) {
      this.#write({ cmd: 'disconnect', reasonCode })
      this.#flush()
    }
    this.#destroy(err)
  }

  #clearTimers (): void {
    clearTimeout(this.#connectTimer)
    clearTimeout(this.#reconnectTimer)
    clearInterval(this.#keepaliveTimer)
    this.#connectTimer = undefined
    this.#reconnectTimer = undefined
    this.#keepaliveTimer = undefined
  }

  // ── keepalive ──────────────────────────────────────────────────────────────────────

  #startKeepalive (): void {
    clearInterval(this.#keepaliveTimer)
    this.#keepaliveTimer = undefined
    this.#pingSentAt = 0
    const ms = this.#keepaliveMs
    if (ms === 0) return
    // Ticking at half the interval: a PINGREQ goes out after one silent tick, so the gap
    // between two packets stays within the keepalive; a PINGRESP missing for a full
    // interval means the connection is dead.
    const timer = setInterval(() => {
      if (this.#state !== STATE_CONNECTED) return
      if (this.#pingSentAt !== 0) {
        if (Date.now() - this.#pingSentAt >= ms) {
          this.#destroy(new ClientError('CLIENT_ERR_KEEPALIVE_TIMEOUT', `keepalive: no PINGRESP from ${this.#url.host} within ${ms} ms`, { reasonCode: 0x8d }))
        }
        return
      }
      if (this.#sentSinceTick) {
        this.#sentSinceTick = false
        return
      }
      this.#pingSentAt = Date.now()
      this.#write({ cmd: 'pingreq' })
    }, ms / 2)
    if (typeof timer === 'object' && typeof (timer as { unref?: () => void }).unref === 'function') (timer as { unref: () => void }).unref()
    this.#keepaliveTimer = timer
  }

  // ── outgoing ───────────────────────────────────────────────────────────────────────

  #submit (op: Op): void {
    if (this.#state === STATE_CONNECTED) {
      this.#dispatch(op)
      return
    }
    if (this.#state === STATE_CLOSED) {
      op.reject(this.#closedError())
      return
    }
    if (this.#offline.length >= this.#queueLimit) {
      op.reject(new ClientError('CLIENT_ERR_QUEUE_FULL', `offline queue is full (offlineQueueLimit ${this.#queueLimit}) while disconnected from ${this.#url.host}`))
      return
    }
    this.#offline.push(op)
  }

  /** Sends an operation on the open connection (or parks it until the window opens). */
  #dispatch (op: Op): void {
    if (op.kind === KIND_PUBLISH) {
      const pkt = op.packet as PublishPacket
      if (pkt.qos === 0) {
        const err = this.#sendPublish(pkt)
        if (err !== undefined) op.reject(err)
        else op.resolve(undefined)
        return
      }
      if (this.#inflightPublishes >= this.#receiveMaximum || this.#waiting.length > 0 || this.#resend.length > 0) {
        this.#waiting.push(op)
        return
      }
    }
    this.#send(op)
  }

  /** Assigns an id and writes; returns false when no id is free (op parked). */
  #send (op: Op): boolean {
    const id = this.#allocId()
    if (id === 0) {
      this.#waiting.push(op)
      return false
    }
    op.packet.messageId = id
    if (op.kind === KIND_PUBLISH) {
      const err = this.#sendPublish(op.packet as PublishPacket)
      if (err !== undefined) {
        op.reject(err)
        return true
      }
      this.#inflightPublishes++
    } else {
      try {
        this.#write(op.packet)
      } catch (err) {
        op.reject(new ClientError('CLIENT_ERR_INVALID_OPTION', `${op.packet.cmd}: cannot encode the packet: ${(err as Error).message}`, { cause: err }))
        return true
      }
    }
    this.#inflight.set(id, op)
    return true
  }

  #resendPublish (id: number, op: Op): void {
    op.sent = true
    this.#inflightPublishes++
    if (op.released) {
      this.#write({ cmd: 'pubrel', messageId: id })
    } else {
      const pkt = op.packet as PublishPacket
      pkt.dup = true
      this.#writePublish(pkt)
    }
  }

  /** Sends deferred resends, then waiting QoS 1/2 publishes, while the server's Receive Maximum allows. */
  #pump (): void {
    while (this.#resend.length > 0 && this.#inflightPublishes < this.#receiveMaximum && this.#state === STATE_CONNECTED) {
      const id = this.#resend.shift()!
      const op = this.#inflight.get(id)
      if (op !== undefined && !op.sent) this.#resendPublish(id, op)
    }
    if (this.#resend.length > 0) return
    while (this.#waiting.length > 0 && this.#inflightPublishes < this.#receiveMaximum && this.#state === STATE_CONNECTED) {
      const op = this.#waiting.shift()!
      if (!this.#send(op)) return
    }
  }

  #allocId (): number {
    for (let i = 0; i < MAX_ID; i++) {
      const id = this.#nextId
      this.#nextId = id === MAX_ID ? 1 : id + 1
      if (!this.#inflight.has(id)) return id
    }
    return 0
  }

  /** Checks server limits, applies a topic alias and writes a PUBLISH; returns the error instead of throwing. */
  #sendPublish (pkt: PublishPacket): ClientError | undefined {
    if (pkt.qos > this.#maximumQoS) {
      return new ClientError('CLIENT_ERR_NOT_SUPPORTED', `publish: QoS ${pkt.qos} exceeds the server's Maximum QoS ${this.#maximumQoS}`, { reasonCode: 0x9b })
    }
    if (pkt.retain && !this.#retainAvailable) {
      return new ClientError('CLIENT_ERR_NOT_SUPPORTED', 'publish: retain requested but the server has Retain Available = 0', { reasonCode: 0x9a })
    }
    return this.#writePublish(pkt)
  }

  #writePublish (pkt: PublishPacket): ClientError | undefined {
    let wire = pkt
    if (this.#serverAliasMax > 0 && pkt.properties?.topicAlias === undefined) {
      const alias = this.#outAliases.get(pkt.topic)
      if (alias !== undefined) {
        wire = { cmd: 'publish', topic: '', payload: pkt.payload, qos: pkt.qos, dup: pkt.dup, retain: pkt.retain, properties: { ...pkt.properties, topicAlias: alias } }
      } else if (this.#outAliases.size < this.#serverAliasMax) {
        const a = this.#outAliases.size + 1
        this.#outAliases.set(pkt.topic, a)
        wire = { cmd: 'publish', topic: pkt.topic, payload: pkt.payload, qos: pkt.qos, dup: pkt.dup, retain: pkt.retain, properties: { ...pkt.properties, topicAlias: a } }
      }
      if (wire !== pkt && pkt.messageId !== undefined) wire.messageId = pkt.messageId
    }
    let buf: Buffer
    try {
      buf = encode(wire, this.#version)
    } catch (err) {
      return new ClientError('CLIENT_ERR_INVALID_OPTION', `publish: cannot encode the PUBLISH for "${pkt.topic}": ${(err as Error).message}`, { cause: err })
    }
    if (buf.length > this.#serverMaxPacket) {
      return new ClientError('CLIENT_ERR_PACKET_TOO_LARGE', `publish: packet is ${buf.length} bytes, the server's Maximum Packet Size is ${this.#serverMaxPacket}`, { reasonCode: 0x95 })
    }
    this.#push(buf)
    return undefined
  }

  #write (packet: Packet): void {
    this.#push(encode(packet, this.#version))
  }

  #push (buf: Buffer): void {
    this.#out.push(buf)
    this.#outBytes += buf.length
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      queueMicrotask(this.#flush)
    }
  }

  /** Writes everything gathered since the last flush as one buffer. */
  #flush = (): void => {
    this.#flushScheduled = false
    const out = this.#out
    if (out.length === 0) return
    const t = this.#transport
    const data = out.length === 1 ? out[0]! : Buffer.concat(out, this.#outBytes)
    this.#out = []
    this.#outBytes = 0
    if (t === null) return
    this.#sentSinceTick = true
    if (!t.write(data)) this.#writable = false
  }

  #drained (): Promise<undefined> {
    return new Promise((resolve) => { this.#drainWaiters.push(() => resolve(undefined)) })
  }

  #onDrain (): void {
    this.#writable = true
    const w = this.#drainWaiters
    this.#drainWaiters = []
    for (const f of w) f()
  }

  // ── incoming ───────────────────────────────────────────────────────────────────────

  #onPacket (p: Packet): void {
    switch (p.cmd) {
      case 'publish': this.#onPublish(p); break
      case 'puback': {
        const op = this.#inflight.get(p.messageId)
        if (op === undefined || op.kind !== KIND_PUBLISH || (op.packet as PublishPacket).qos !== 1 || !op.sent) break
        this.#inflight.delete(p.messageId)
        this.#inflightPublishes--
        this.#settlePublish(op, p.reasonCode ?? 0, p.properties, 'PUBACK')
        this.#pump()
        break
      }
      case 'pubrec': {
        const op = this.#inflight.get(p.messageId)
        if (op === undefined || op.kind !== KIND_PUBLISH || (op.packet as PublishPacket).qos !== 2 || !op.sent) {
          const rel: Packet = { cmd: 'pubrel', messageId: p.messageId }
          if (this.#version === 5) rel.reasonCode = 0x92 // Packet Identifier not found
          this.#write(rel)
          break
        }
        const rc = p.reasonCode ?? 0
        if (rc >= 0x80) {
          this.#inflight.delete(p.messageId)
          this.#inflightPublishes--
          this.#settlePublish(op, rc, p.properties, 'PUBREC')
          this.#pump()
          break
        }
        op.released = true
        op.result = publishResult(rc, p.properties)
        this.#write({ cmd: 'pubrel', messageId: p.messageId })
        break
      }
      case 'pubcomp': {
        const op = this.#inflight.get(p.messageId)
        if (op === undefined || !op.released || !op.sent) break
        this.#inflight.delete(p.messageId)
        this.#inflightPublishes--
        // PUBREC already said the server owns the message. PUBCOMP's only failure,
        // 0x92 Packet Identifier not found, answers a PUBREL we resent after a reconnect
        // whose first PUBREL the server had already completed: the flow is complete either way.
        op.resolve(op.result)
        this.#pump()
        break
      }
      case 'pubrel': {
        this.#incomingQos2.delete(p.messageId)
        this.#write({ cmd: 'pubcomp', messageId: p.messageId })
        break
      }
      case 'suback': {
        const op = this.#inflight.get(p.messageId)
        if (op === undefined || op.kind !== KIND_SUBSCRIBE) break
        this.#inflight.delete(p.messageId)
        const subs = (op.packet as SubscribePacket).subscriptions
        const props = (op.packet as SubscribePacket).properties
        const granted: Granted[] = subs.map((s, i) => ({ topic: s.topic, qos: p.granted[i] ?? 0x80 }))
        for (let i = 0; i < subs.length; i++) {
          const s = subs[i]!
          if (granted[i]!.qos < 0x80) this.#subscriptions.set(s.topic, props === undefined ? s : { ...s, properties: props })
        }
        if (op.sub !== undefined) op.sub.granted = granted
        op.resolve(op.sub)
        break
      }
      case 'unsuback': {
        const op = this.#inflight.get(p.messageId)
        if (op === undefined || op.kind !== KIND_UNSUBSCRIBE) break
        this.#inflight.delete(p.messageId)
        const list = (op.packet as UnsubscribePacket).unsubscriptions
        const gone = new Set(list)
        for (const s of this.#streams) {
          if (s instanceof Subscription && s.filters.every((f) => gone.has(f) && !this.#subscriptions.has(f))) s.close()
        }
        op.resolve(list.map((_, i) => p.granted?.[i] ?? 0))
        break
      }
      case 'pingresp':
        this.#pingSentAt = 0
        break
      case 'connack':
        this.#onConnack(p)
        break
      case 'disconnect': {
        const rc = p.reasonCode ?? 0
        this.emit('disconnect', p.properties === undefined ? { reasonCode: rc } : { reasonCode: rc, properties: p.properties })
        this.#destroy(new ClientError('CLIENT_ERR_SERVER_DISCONNECT', `${this.#url.host} sent DISCONNECT with ${reasonLabel(rc)}${p.properties?.reasonString === undefined ? '' : `: ${p.properties.reasonString}`}`,
          { reasonCode: rc, reasonString: p.properties?.reasonString }))
        break
      }
      case 'auth':
        this.#onAuth(p)
        break
      default:
        this.#protocolError(`unexpected ${p.cmd.toUpperCase()} from the server`, 0x82)
    }
  }

  #onPublish (p: PublishPacket): void {
    if (this.#state !== STATE_CONNECTED) {
      this.#protocolError('PUBLISH before CONNACK', 0x82)
      return
    }
    const alias = p.properties?.topicAlias
    if (alias !== undefined) {
      if (alias === 0 || alias > this.#clientAliasMax) {
        this.#protocolError(`PUBLISH topic alias ${alias} is outside 1..${this.#clientAliasMax} (our Topic Alias Maximum) [MQTT-3.3.2-9]`, 0x94)
        return
      }
      if (p.topic.length > 0) this.#inAliases.set(alias, p.topic)
      else {
        const t = this.#inAliases.get(alias)
        if (t === undefined) {
          this.#protocolError(`PUBLISH uses topic alias ${alias} that was never set on this connection`, 0x82)
          return
        }
        p.topic = t
      }
    }
    const qos = p.qos
    const hook = this.#opts.handleMessage
    if (hook !== undefined) {
      this.#handleThenAck(p, hook)
      return
    }
    if (qos === 2) {
      const id = p.messageId!
      if (!this.#incomingQos2.has(id)) {
        this.#incomingQos2.add(id)
        this.#deliver(p)
      }
      this.#write({ cmd: 'pubrec', messageId: id })
      return
    }
    this.#deliver(p)
    if (qos === 1) this.#write({ cmd: 'puback', messageId: p.messageId! })
  }

  /** `handleMessage` set: acknowledge once the hook settled, in arrival order. */
  #handleThenAck (p: PublishPacket, hook: (m: Message) => void | Promise<void>): void {
    const qos = p.qos
    const gen = this.#gen
    const id = p.messageId!
    const entry = { cmd: qos === 2 ? 'pubrec' as const : 'puback' as const, id, done: false }
    if (qos > 0) this.#acks.push(entry)
    const failed = (err: unknown): void => {
      if (qos === 2) this.#incomingQos2.delete(id)
      const e = new ClientError('CLIENT_ERR_HANDLER_FAILED', `handleMessage failed for ${p.topic}; not acknowledged: ${(err as Error)?.message ?? String(err)}`, { cause: err })
      if (qos === 0) { this.emit('error', e); return }
      if (gen === this.#gen) this.#destroy(e)
    }
    const settled = (): void => {
      if (gen !== this.#gen) return // the server resends on the new connection
      entry.done = true
      this.#flushAcks()
    }
    let run: Promise<void>
    if (qos === 2 && this.#incomingQos2.has(id)) {
      // a resend of a message already handled, or still being handled: acknowledge once that settles
      run = this.#handlingQos2.get(id) ?? Promise.resolve()
    } else {
      if (qos === 2) this.#incomingQos2.add(id)
      try {
        run = Promise.resolve(hook(p))
      } catch (err) {
        run = Promise.reject(err)
      }
      this.#deliver(p)
      if (qos === 2) {
        const tracked = run.finally(() => { if (this.#handlingQos2.get(id) === tracked) this.#handlingQos2.delete(id) })
        this.#handlingQos2.set(id, tracked)
        run = tracked
      }
    }
    if (qos === 0) run.then(undefined, failed)
    else run.then(settled, failed)
  }

  #flushAcks (): void {
    const acks = this.#acks
    let n = 0
    while (n < acks.length && acks[n]!.done) {
      const a = acks[n++]!
      this.#write({ cmd: a.cmd, messageId: a.id })
    }
    if (n > 0) acks.splice(0, n)
  }

  #deliver (msg: Message): void {
    this.emit('message', msg)
    if (this.#streams.size > 0) {
      for (const s of this.#streams) s.offer(msg)
    }
  }

  #onAuth (p: AuthPacket): void {
    const hook = this.#opts.onAuth
    const rc = p.reasonCode ?? 0
    if (rc === 0) return // re-authentication succeeded
    if (hook === undefined) {
      this.#destroy(new ClientError('CLIENT_ERR_AUTH', `auth: the server sent AUTH ${reasonLabel(rc)} but no onAuth hook is set`, { reasonCode: 0x8c }))
      return
    }
    const gen = this.#gen
    Promise.resolve()
      .then(() => hook(p))
      .then((answer) => {
        if (gen !== this.#gen) return
        const res = answer instanceof Uint8Array ? { authenticationData: answer } : answer
        const method = this.#opts.properties?.authenticationMethod ?? p.properties?.authenticationMethod
        const out: AuthPacket = { cmd: 'auth', reasonCode: res.reasonCode ?? 0x18, properties: {} }
        if (method !== undefined) out.properties!.authenticationMethod = method
        if (res.authenticationData !== undefined) out.properties!.authenticationData = toBuffer(res.authenticationData)
        this.#write(out)
      }, (err: unknown) => {
        if (gen !== this.#gen) return
        this.#destroy(new ClientError('CLIENT_ERR_AUTH', `auth: onAuth hook failed: ${(err as Error).message}`, { cause: err }))
      })
  }

  #settlePublish (op: Op, rc: number, props: { reasonString?: string } | undefined, what: string): void {
    if (rc >= 0x80) {
      const pkt = op.packet as PublishPacket
      op.reject(new ClientError('CLIENT_ERR_PUBLISH_FAILED',
        `publish: ${what} for "${pkt.topic}" (id ${pkt.messageId ?? 0}) has ${reasonLabel(rc)}${props?.reasonString === undefined ? '' : `: ${props.reasonString}`}`,
        { reasonCode: rc, reasonString: props?.reasonString }))
    } else {
      op.resolve(publishResult(rc, props))
    }
  }

  // ── teardown helpers ───────────────────────────────────────────────────────────────

  #closedError (): ClientError {
    return new ClientError('CLIENT_ERR_CLIENT_CLOSED', `the client for ${this.#url.host} is closed (end() was called or the first connect failed)`)
  }

  #failAll (err: Error): void {
    const ops = [...this.#inflight.values(), ...this.#waiting, ...this.#offline]
    this.#inflight.clear()
    this.#waiting = []
    this.#resend = []
    this.#offline = []
    this.#inflightPublishes = 0
    for (const op of ops) op.reject(err)
    const first = this.#firstConnect
    if (first !== null && !this.#resolvedFirst) {
      this.#resolvedFirst = true
      first.reject(err)
    }
  }

  #closeStreams (): void {
    for (const s of [...this.#streams]) s.close()
  }
}

function noop (): void {}

function publishResult (rc: number, props: { reasonString?: string, userProperties?: PublishResult['userProperties'] } | undefined): PublishResult {
  const r: PublishResult = { reasonCode: rc }
  if (props?.reasonString !== undefined) r.reasonString = props.reasonString
  if (props?.userProperties !== undefined) r.userProperties = props.userProperties
  return r
}

export type { PublishProperties, ClientErrorCode }
