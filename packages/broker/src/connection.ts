/**
 * `Connection`: one client's stream. It owns the parser, the protocol state machine
 * (NEW → CONNECTING/AUTHENTICATING → CONNECTED → CLOSED), keepalive and connect timeout,
 * inbound and outbound topic aliases, and the bytes: QoS 0 deliveries and the encoding of
 * every PUBLISH. Its QoS 1/2 deliveries (inflight window, bounded queue, store records)
 * are its session's {@link DeliveryLog}, made when the connection takes the session
 * (`attach`); the connection is that log's {@link Link}.
 *
 * Packets are dispatched synchronously as the parser delivers them; a handler that has to
 * wait (a hook, the store) returns a promise and later packets wait in `backlog`, so packets
 * of one connection are always processed in order.
 *
 * Its state is private: others read it through getters and change it only through named
 * steps (`startConnect`, `identify`, `attach`, `setWill` / `takeWill`, `ackAfter` / `acked`,
 * …). Handlers see the connection as a {@link ConnectionPort} (handlers/ports.ts).
 *
 * Memory: an idle connection holds the parser and this object (keepalive and connect
 * timeout are checked by one broker-wide sweep timer, not a timer each); maps for aliases
 * and the delivery log are created on first use.
 */
import type { Duplex } from 'node:stream'
import { encode, Parser, PINGRESP, type Packet, type PacketError, type QoS, type Will } from '@culex/packet'
import type { Broker } from './broker.ts'
import { DeliveryLog, type Link, type OutEntry } from './delivery-log.ts'
import type { Engine } from './engine.ts'
import { BrokerError, type BrokerErrorCode } from './errors.ts'
import { dispatch } from './handlers/index.ts'
import type { ConnectionPort } from './handlers/ports.ts'
import type { Client, ConnectionInfo } from './options.ts'
import { idOffset, type Routed } from './routed.ts'
import type { SharedGroup, Session } from './session.ts'
import { encodeWithin } from './within.ts'

/** Connection states. */
export const State = { NEW: 0, CONNECTING: 1, AUTHENTICATING: 2, CONNECTED: 3, CLOSED: 4 } as const

const CONN = Symbol('culex.connection')
type Owned = Duplex & { [CONN]: Connection }
function onData (this: Owned, chunk: Buffer): void {
  this[CONN].received(chunk)
}
function onError (this: Owned, err: Error): void {
  const c = this[CONN]
  c.error('BROKER_ERR_SOCKET', `stream error: ${err.message}`, err)
  c.teardown(false)
}
function onEnd (this: Owned): void {
  this[CONN].teardown(false)
}
function onDrain (this: Owned): void {
  this[CONN].drained()
}
// parser callbacks, called with this = the connection (no closures per connection)
function onParsed (this: Connection, p: Packet): void {
  this.onPacket(p)
}
function onParseError (this: Connection, e: PacketError): void {
  this.onParseError(e)
}

// above this size a QoS 1/2 delivery writes a patched header and the shared tail as two
// corked writes instead of copying the whole packet per subscriber
const SPLIT_AT = 2048

/** One client connection. Implements the public {@link Client} view. */
export class Connection implements Client, ConnectionPort {
  readonly broker: Broker
  readonly stream: Duplex
  readonly #info: ConnectionInfo
  readonly #parser: Parser<Connection>
  #id = ''
  #protocolVersion: 0 | 3 | 4 | 5 = 0
  #username: string | undefined = undefined
  #keepalive = 0
  #state: number = State.NEW
  #session: Session | null = null
  #will: Will | null = null
  /**
   * Session Expiry Interval (s) this connection grants its session, applied when the
   * connection ends [MQTT-3.1.2-5]; `#expiryRequested` is what the client asked for in
   * CONNECT (the DISCONNECT rule compares with it [MQTT-3.14.2-2]).
   */
  #expiry = 0
  #expiryRequested = 0
  /** Enhanced auth method of this connection (5.0). */
  #authMethod: string | undefined = undefined
  /** A re-authentication (AUTH 0x19) is in progress: the broker answered AUTH 0x18 (5.0). */
  #reauthenticating = false
  /** Set while the CONNECT waits for AUTH packets. */
  #pendingConnect: unknown = null
  #lastSeen: number
  /** Connect deadline (ms since epoch) while no CONNECT was processed; 0 after. */
  #deadline: number
  // inbound
  /** Packets that arrived while a handler waits (processed in order once it is done). */
  #backlog: Packet[] | null = null
  #busy = false
  #aliasesIn: Map<number, string> | null = null
  /** QoS 1 PUBACKs not yet sent + QoS 2 awaiting PUBREL. */
  #inUnacked = 0
  /** The last acknowledgement waiting (acks go out in order); null when none waits. */
  #ackTail: Promise<unknown> | null = null
  #rateStart = 0
  #rateCount = 0
  // outbound
  /** The QoS 1/2 deliveries of its session while this connection holds it (made at CONNACK). */
  #log: DeliveryLog | null = null
  /** The client's Maximum Packet Size. */
  #maxOut = 268435460
  /** The client's Topic Alias Maximum (outbound aliases; 0: none). */
  #aliasOutMax = 0
  /** Outbound aliases, least recently used first (re-inserted on use). */
  #aliasesOut: Map<string, number> | null = null
  /** Approximate bytes `#aliasesOut` holds (limits.maxTopicAliasBytes). */
  #aliasBytes = 0
  /** Highest outbound alias assigned so far. */
  #aliasTop = 0
  /** Outbound alias numbers (≤ #aliasTop) not in use. At most budget / 64 + 1 of them. */
  #aliasFree: number[] | null = null
  /** No CONNECT parsed yet: small packet limit. */
  #preConnect = true
  /** While counted among the broker's sockets without CONNECT: its remote address (undefined: unknown); null once not counted. */
  #pendingAddr: string | undefined | null = null
  /** A parse error that waits until the packets parsed before it were processed. */
  #parseError: PacketError | null = null
  #corked = false
  #corkedBytes = 0
  #waitingDrain = false
  #disconnectReason = -1
  /** QoS 1/2 PUBLISH from this client whose ack waits (store writes, a full queue). */
  #ackWaiting = 0
  /** Reading from this (3.x) publisher is paused: #ackWaiting reached limits.maxInflight. */
  #flowPaused = false
  /** The engine behind the broker (router, sessions, wills): what handlers talk to. */
  readonly engine: Engine

  constructor (engine: Engine, stream: Duplex, info: ConnectionInfo) {
    const broker = engine.broker
    this.engine = engine
    this.broker = broker
    this.stream = stream
    this.#info = info
    this.#lastSeen = broker.clock.now()
    const ct = broker.limits.connectTimeout
    this.#deadline = ct > 0 && ct < Infinity ? this.#lastSeen + ct : 0
    const limits = broker.limits
    this.#parser = new Parser({
      // before CONNECT: a small limit, and a first byte that is not CONNECT's fails at once
      maxPacketSize: Math.min(limits.maxConnectPacketSize, limits.maxPacketSize),
      connectFirst: true,
      maxUserProperties: limits.maxUserProperties,
      maxUserPropertyBytes: limits.maxUserPropertyBytes,
      userProperties: 'pairs', // forwarded in their order [MQTT-3.3.2-18]
      onPacket: onParsed,
      onError: onParseError,
      context: this
    })
    // module-level listeners (no closures per connection): the stream points back at us
    ;(stream as Duplex & { [CONN]?: Connection })[CONN] = this
    stream.on('data', onData)
    stream.on('error', onError)
    stream.on('close', onEnd)
    stream.on('end', onEnd)
    engine.watch(this)
  }

  /** What the app said about the peer; `remoteAddress` falls back to the socket's (computed on use, not kept). */
  get info (): ConnectionInfo {
    const info = this.#info
    if (info.remoteAddress !== undefined) return info
    const addr = (this.stream as { remoteAddress?: string }).remoteAddress
    return addr === undefined ? info : { ...info, remoteAddress: addr }
  }

  // ───────── state: read here, changed only through the steps below ─────────

  /** {@link Client.id}: '' until CONNECT was processed. */
  get id (): string {
    return this.#id
  }

  /** {@link Client.protocolVersion}: 0 until CONNECT was processed. */
  get protocolVersion (): 0 | 3 | 4 | 5 {
    return this.#protocolVersion
  }

  /** {@link Client.username}: from CONNECT, or the identity `authenticate` established. */
  get username (): string | undefined {
    return this.#username
  }

  /** {@link Client.keepalive}: in effect, in seconds. */
  get keepalive (): number {
    return this.#keepalive
  }

  /** One of {@link State}. */
  get state (): number {
    return this.#state
  }

  /** The Will Message this connection leaves if it ends without a normal DISCONNECT (null: none, or settled). */
  get will (): Will | null {
    return this.#will
  }

  /** Session Expiry Interval (s) granted to the session, applied when the connection ends [MQTT-3.1.2-5]. */
  get expiry (): number {
    return this.#expiry
  }

  /** Session Expiry Interval (s) the client asked for in CONNECT (before the broker's maximum). */
  get expiryRequested (): number {
    return this.#expiryRequested
  }

  /** Enhanced authentication method of this connection (5.0; undefined: none). */
  get authMethod (): string | undefined {
    return this.#authMethod
  }

  /** A re-authentication is in progress: the broker answered AUTH 0x18 (5.0). */
  get reauthenticating (): boolean {
    return this.#reauthenticating
  }

  /** The client's Maximum Packet Size (bytes). */
  get maxOut (): number {
    return this.#maxOut
  }

  /** QoS 1 PUBACKs not yet sent + QoS 2 awaiting PUBREL. */
  get inUnacked (): number {
    return this.#inUnacked
  }

  /** An acknowledgement of this client's PUBLISH still waits: later ones go out after it. */
  get ackTail (): Promise<unknown> | null {
    return this.#ackTail
  }

  /** Reading from this (3.x) publisher is paused until its acks go out. */
  get flowPaused (): boolean {
    return this.#flowPaused
  }

  /** Reason code of the DISCONNECT that ended the connection (-1: none). */
  get disconnectReason (): number {
    return this.#disconnectReason
  }

  /** A CONNECT of `protocolVersion` is being processed; the client accepts packets up to `maxOut` bytes. */
  startConnect (protocolVersion: 3 | 4 | 5, maxOut: number | undefined): void {
    this.#state = State.CONNECTING
    this.#protocolVersion = protocolVersion
    if (maxOut !== undefined) this.#maxOut = maxOut // a refusing CONNACK already respects it [MQTT-3.1.2-24]
  }

  /** The client id (its own or an assigned one) and the username of its CONNECT. */
  identify (id: string, username: string | undefined): void {
    this.#id = id
    this.#username = username
  }

  /** `authenticate` allowed the connection under another identity (e.g. a certificate's CN). */
  authenticatedAs (username: string): void {
    this.#username = username
  }

  /** The keepalive in effect (s), after the server maximum. */
  useKeepalive (seconds: number): void {
    this.#keepalive = seconds
  }

  /** CONNECT names an enhanced authentication method (5.0): every AUTH must continue it. */
  useAuthMethod (method: string): void {
    this.#authMethod = method
  }

  /** The CONNECT waits for AUTH packets (enhanced authentication continues); `pending` is its state. */
  awaitAuth (pending: unknown): void {
    this.#pendingConnect = pending
    this.#state = State.AUTHENTICATING
  }

  /** Enhanced authentication succeeded: the CONNECT goes on; returns what `awaitAuth` kept. */
  authenticated (): unknown {
    this.#state = State.CONNECTING
    return this.#pendingConnect
  }

  /** A re-authentication step answered: `more` while the broker waits for another AUTH. */
  reauthStep (more: boolean): void {
    this.#reauthenticating = more
  }

  /** The Session Expiry Interval the client asked for in CONNECT, and what the broker granted. */
  grantExpiry (requested: number, granted: number): void {
    this.#expiryRequested = requested
    this.#expiry = granted
  }

  /** A DISCONNECT (5.0) changed the Session Expiry Interval to `granted` (s). */
  changeExpiry (granted: number): void {
    this.#expiry = granted
  }

  /** The Will Message the connection leaves (a copy the connection keeps). */
  setWill (will: Will): void {
    this.#will = will
  }

  /** Take the will (published, delayed or discarded by the caller): the connection no longer has one. */
  takeWill (): Will | null {
    const will = this.#will
    this.#will = null
    return will
  }

  /** A QoS 1 PUBLISH waits for its PUBACK, or a QoS 2 one for its PUBREL (Receive Maximum). */
  holdInbound (): void {
    this.#inUnacked++
  }

  /** A QoS 1 PUBACK went out, or a QoS 2 exchange ended. */
  releaseInbound (): void {
    this.#inUnacked--
  }

  /**
   * A QoS 1/2 PUBLISH of this client is acknowledged once `tail` settles (after the
   * acknowledgements before it). A 3.x publisher with limits.maxInflight acks waiting is no
   * longer read until they go out (one that is itself a full subscriber still is, or its own
   * acks could not arrive).
   */
  ackAfter (tail: Promise<unknown>): void {
    this.#ackTail = tail
    if (++this.#ackWaiting >= this.broker.limits.maxInflight && this.#protocolVersion !== 5 && !this.#flowPaused && !this.overQueued) {
      this.#flowPaused = true
      this.stream.pause()
    }
  }

  /** The acknowledgement `tail` (see `ackAfter`) is about to go out: reading resumes if it was paused. */
  acked (tail: Promise<unknown>): void {
    if (--this.#ackWaiting < this.broker.limits.maxInflight && this.#flowPaused) {
      this.#flowPaused = false
      this.resumeReading()
    }
    if (this.#ackTail === tail) this.#ackTail = null
  }

  /** DISCONNECT from the client with `reasonCode`: the connection ends. */
  endByClient (reasonCode: number): void {
    this.#disconnectReason = reasonCode
    this.teardown(true)
  }

  /** Not admitted (broker closed, too many sockets without CONNECT): closed without being counted. */
  turnAway (): void {
    this.#preConnect = false
    this.teardown(true)
  }

  /** Counted among the broker's sockets without CONNECT, from `addr` (undefined: unknown). */
  countPending (addr: string | undefined): void {
    this.#pendingAddr = addr
  }

  /** No longer counted as without CONNECT: returns the address it was counted under, or null when it was not counted. */
  uncountPending (): string | undefined | null {
    const addr = this.#pendingAddr
    this.#pendingAddr = null
    return addr
  }

  /** Bytes from the socket. */
  received (chunk: Buffer): void {
    this.#lastSeen = this.broker.clock.now()
    this.broker.stats.bytesReceived += chunk.length
    this.#parser.parse(chunk)
  }

  /** Count a PUBLISH against `perSecond`; true when it is one too many this second. */
  overRate (perSecond: number): boolean {
    const now = this.broker.clock.now()
    if (now - this.#rateStart >= 1000) {
      this.#rateStart = now
      this.#rateCount = 0
    }
    return ++this.#rateCount > perSecond
  }

  /** The topic a client's inbound Topic Alias stands for (undefined: never set). */
  aliasIn (alias: number): string | undefined {
    return this.#aliasesIn?.get(alias)
  }

  /** A PUBLISH with a topic and a Topic Alias (re)defines the alias. */
  setAliasIn (alias: number, topic: string): void {
    (this.#aliasesIn ??= new Map()).set(alias, topic)
  }

  /** Reading resumes (acks went out) unless a long backlog of packets still waits. */
  resumeReading (): void {
    if (this.#backlog === null || this.#backlog.length < 1000) this.stream.resume()
  }

  /** True once the connection is closed (re-read after every await). */
  get isClosed (): boolean {
    return this.#state === State.CLOSED
  }

  get connected (): boolean {
    return this.#state === State.CONNECTED
  }

  // ───────── inbound ─────────

  onPacket (packet: Packet): void {
    if (this.#state === State.CLOSED) return
    if (this.#preConnect) {
      // the first packet, a CONNECT (the parser checks): the socket stops counting as without CONNECT
      this.#preConnect = false
      this.#parser.setMaxPacketSize(this.broker.limits.maxPacketSize)
      this.engine.admitted(this)
    }
    if (this.#busy) {
      (this.#backlog ??= []).push(packet)
      if (this.#backlog.length === 1000) this.stream.pause()
      return
    }
    this.run(packet)
  }

  private run (packet: Packet): void {
    let r: void | Promise<void>
    try {
      r = dispatch(this, packet)
    } catch (err) {
      this.fail(err)
      return
    }
    if (r !== undefined) {
      this.#busy = true
      r.then(() => { this.resume() }, (err: unknown) => { this.fail(err); this.resume() })
    }
  }

  private resume (): void {
    this.#busy = false
    const backlog = this.#backlog
    if (backlog !== null) {
      for (;;) {
        if (this.#busy || this.#state === State.CLOSED) return
        if (backlog.length === 0) break
        const p = backlog.shift()!
        if (backlog.length === 999 && !this.#flowPaused) this.stream.resume()
        this.run(p)
      }
    }
    if (this.#parseError !== null && !this.#busy) {
      // the packets parsed before the bad one are done: now answer the bad one
      const e = this.#parseError
      this.#parseError = null
      this.onParseError(e)
    }
  }

  private fail (err: unknown): void {
    if (this.#state === State.CLOSED) return
    const e = err instanceof BrokerError ? err : new BrokerError('BROKER_ERR_HOOK', `handler failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    this.broker.emitClientError(this, e)
    if (this.#state === State.CONNECTING || this.#state === State.AUTHENTICATING) {
      // no CONNACK yet: answer with 0x80 Unspecified error / return code 3 Server unavailable
      if (this.#protocolVersion === 5) this.writePacket({ cmd: 'connack', sessionPresent: false, reasonCode: 0x80 }, 5)
      else this.writePacket({ cmd: 'connack', sessionPresent: false, returnCode: 3 }, this.#protocolVersion === 3 ? 3 : 4)
      this.teardown(true)
      return
    }
    this.disconnect(e.reasonCode ?? 0x80, e.message)
  }

  onParseError (err: PacketError): void {
    if (this.#state === State.CLOSED) return
    if (this.#busy) {
      // valid packets of the same read wait behind a handler: process them first
      this.#parseError = err
      return
    }
    const first = err.code === 'PACKET_ERR_CONNECT_EXPECTED'
    if (first) this.error('BROKER_ERR_CONNECT_FIRST', err.message, err) // [MQTT-3.1.0-1]
    else this.error('BROKER_ERR_MALFORMED_PACKET', `bad packet: ${err.message}`, err, err.reasonCode)
    if (this.#state === State.NEW && err.reasonCode === 0x84) {
      // unsupported protocol level: CONNACK return code 1 in the 3.1.1 format [MQTT-3.1.2-2]
      this.writePacket({ cmd: 'connack', sessionPresent: false, returnCode: 1 }, 4)
      this.teardown(true)
      return
    }
    if (this.#state === State.NEW) {
      // a bad first packet gets no answer: drop the socket now rather than read what follows
      // (up to the 16 MiB an attacker announced) until the 2 s close delay
      this.teardown(true)
      this.stream.destroy()
      return
    }
    this.disconnect(err.reasonCode ?? 0x81, err.message)
  }

  error (code: BrokerErrorCode, message: string, cause?: unknown, reasonCode?: number): void {
    const opts: { cause?: unknown, reasonCode?: number } = {}
    if (cause !== undefined) opts.cause = cause
    if (reasonCode !== undefined) opts.reasonCode = reasonCode
    this.broker.emitClientError(this, new BrokerError(code, `client ${JSON.stringify(this.#id)}: ${message}`, opts))
  }

  /**
   * Called by the broker's sweep (one timer for all connections): the connect timeout
   * before CONNECT, then keepalive — close when nothing arrived for 1.5 × keepalive
   * [MQTT-3.1.2-24].
   */
  check (now: number): void {
    if (this.#state < State.CONNECTED) {
      if (this.#deadline > 0 && now >= this.#deadline) {
        this.error('BROKER_ERR_CONNECT_TIMEOUT', `no CONNECT within ${this.broker.limits.connectTimeout} ms`)
        this.teardown(false)
      }
      return
    }
    const full = this.log === null ? 0 : this.log.fullFor(now)
    if (full > 0) {
      const stall = this.broker.limits.stallTimeout
      if (stall > 0 && full >= stall) {
        this.stall(full)
        return
      }
    }
    if (this.#flowPaused) this.#lastSeen = now // not read while paused: its silence is ours
    if (this.#keepalive === 0 || this.#state !== State.CONNECTED) return
    const idle = now - this.#lastSeen
    if (idle >= this.#keepalive * 1500) {
      this.error('BROKER_ERR_KEEPALIVE_TIMEOUT', `nothing received for ${idle} ms (keepalive ${this.#keepalive} s)`)
      this.disconnect(0x8D, 'keep alive timeout')
    }
  }

  // ───────── outbound: bytes ─────────

  /**
   * Write bytes, corking the stream for the rest of this tick (one syscall for a batch).
   * Bytes written while corked are not back-pressure: `backedUp` subtracts them, and a
   * batch over 64 KiB is flushed at once (a long promise chain may delay the nextTick).
   */
  write (buf: Buffer): void {
    if (this.#state === State.CLOSED) return
    if (!this.#corked) {
      this.#corked = true
      this.stream.cork()
      this.engine.scheduleUncork(this)
    } else if (this.#corkedBytes > 65536) {
      this.stream.uncork()
      this.stream.cork()
      this.#corkedBytes = 0
    }
    this.#corkedBytes += buf.length
    const st = this.broker.stats
    st.bytesSent += buf.length
    st.messagesSent++
    this.stream.write(buf)
  }

  uncork (): void {
    if (!this.#corked) return
    this.#corked = false
    this.#corkedBytes = 0
    this.stream.uncork()
  }

  writePacket (packet: Packet, version?: 3 | 4 | 5): void {
    this.write(encode(packet, version ?? (this.#protocolVersion === 0 ? 4 : this.#protocolVersion)))
  }

  pingresp (): void {
    this.write(PINGRESP)
  }

  get backedUp (): boolean {
    return this.stream.writableLength - this.#corkedBytes > this.broker.limits.maxBufferedBytes
  }

  /**
   * Close with a reason: 5.0 clients get DISCONNECT `reasonCode` first (not before CONNACK,
   * where the caller sends a CONNACK instead).
   */
  disconnect (reasonCode: number, reasonString?: string): void {
    if (this.#state === State.CLOSED) return
    if (this.#protocolVersion === 5 && this.#state === State.CONNECTED && reasonCode !== 0) {
      const props = reasonString !== undefined ? { reasonString } : undefined
      try {
        this.write(encodeWithin({ cmd: 'disconnect', reasonCode, ...(props !== undefined ? { properties: props } : {}) }, this.#maxOut))
      } catch { /* an unencodable reason string is not worth a crash */ }
    }
    this.#disconnectReason = reasonCode
    this.teardown(true)
  }

  /** {@link Client.close}. */
  close (reasonCode = 0x98, reasonString?: string): void {
    this.disconnect(reasonCode, reasonString)
  }

  /**
   * Final cleanup, once. `normal` is true only for a DISCONNECT 0x00 from the client
   * (the will is then discarded) — callers settle the will first (`takeWill`).
   */
  teardown (_ended: boolean): void {
    if (this.#state === State.CLOSED) return
    const wasConnected = this.#state === State.CONNECTED
    this.#state = State.CLOSED
    const log = this.log
    log?.wakeRoom() // they see the connection closed and stop
    this.uncork()
    this.stream.end()
    const s = this.stream
    this.broker.clock.setTimeout(() => { s.destroy() }, 2000).unref()
    this.engine.connectionClosed(this, wasConnected)
    log?.releaseWaiters()
  }

  /**
   * Stalled: the queue stayed beyond its bound for limits.stallTimeout. The connection ends
   * (5.0: DISCONNECT 0x97): a clean session ends with it and its queue is released; a
   * persistent session keeps its queue in the store until it reconnects (bounded by
   * limits.maxStoredMessages).
   */
  private stall (ms: number): void {
    this.broker.stats.subscribersStalled++
    this.broker.logger.warn({ client: this.#id, queued: this.log?.queuedCount ?? 0, ms }, 'subscriber stalled: queue full too long')
    this.error('BROKER_ERR_QUOTA_EXCEEDED', `queue full for ${ms} ms (limits.stallTimeout): subscriber stalled`, undefined, 0x97)
    this.disconnect(0x97, 'quota exceeded: queue full')
  }

  // ───────── outbound: deliveries ─────────

  /**
   * CONNACK sent: the connection is CONNECTED and holds `s`; its deliveries go through a new
   * log, within `window` (the client's Receive Maximum, capped) and with up to `aliasOutMax`
   * outbound topic aliases.
   */
  attach (s: Session, window: number, aliasOutMax: number): void {
    this.#state = State.CONNECTED
    this.#deadline = 0
    this.#pendingConnect = null
    this.#aliasOutMax = aliasOutMax
    this.#session = s
    const log = new DeliveryLog(this.engine, s, this as Link)
    log.window = window
    this.#log = log
    s.conn = this
    this.engine.router.presence(s)
  }

  /** The session this connection holds (null before CONNACK). */
  get session (): Session | null {
    return this.#session
  }

  /** Its session's delivery log (null before CONNACK). */
  get log (): DeliveryLog | null {
    return this.#log
  }

  /** The queue is beyond its bound: publishers' acks wait for room (see DeliveryLog.room). */
  get overQueued (): boolean {
    return this.log !== null && this.log.overQueued
  }

  /** QoS 1/2 deliveries waiting in the queue. */
  get queuedCount (): number {
    return this.log === null ? 0 : this.log.queuedCount
  }

  /** Payload + topic bytes of the queued deliveries. */
  get queuedBytes (): number {
    return this.log === null ? 0 : this.log.queuedBytes
  }

  /** QoS 1/2 deliveries sent and not acknowledged. */
  inflightSize (): number {
    return this.log === null ? 0 : this.log.inflightSize()
  }

  /**
   * Deliver a routed message (hot path: no allocation for QoS 0 shared forms). Returns the
   * QoS 1/2 entry (sent or queued), null for QoS 0.
   */
  deliver (m: Routed, qos: QoS, retain: boolean, ids: number[] | null, group: SharedGroup | null): OutEntry | null {
    if (qos !== 0) return this.log!.deliver(m, qos, retain, ids, group)
    const v5 = this.#protocolVersion === 5
    if (this.backedUp) {
      this.broker.stats.publishDropped++
      this.engine.counters.drops.backedUp++
      return null
    }
    let buf: Buffer
    if (v5 && (ids !== null || this.#aliasOutMax > 0 || m.expiresAt !== undefined)) {
      buf = this.encodeOwn(m, 0, retain, false, 0, ids) // records a new alias only if it fits maxOut
    } else {
      buf = m.wire(v5, 0, retain)
    }
    if (buf.length > this.#maxOut) { // [MQTT-3.1.2-25]
      this.broker.stats.publishDropped++
      this.engine.counters.drops.tooLarge++
      return null
    }
    this.broker.stats.publishSent++
    const k = this.engine.counters
    k.publishOut[0]++
    k.bytesOut[0] += buf.length
    this.write(buf)
    return null
  }

  /** {@link Link.sendPublish}: one QoS 1/2 PUBLISH of the log. */
  sendPublish (m: Routed, qos: QoS, retain: boolean, dup: boolean, id: number, ids: number[] | null): boolean {
    const v5 = this.#protocolVersion === 5
    let own: Buffer | null = null
    if (v5 && (ids !== null || this.#aliasOutMax > 0 || m.expiresAt !== undefined)) {
      own = this.encodeOwn(m, qos, retain, dup, id, ids)
    }
    const shared = own === null ? m.wire(v5, qos, retain) : own
    if (shared.length > this.#maxOut) { // too large for this client: not sent [MQTT-3.1.2-25]
      this.broker.stats.publishDropped++
      this.engine.counters.drops.tooLarge++
      return false
    }
    this.broker.stats.publishSent++
    const k = this.engine.counters
    k.publishOut[qos]++
    k.bytesOut[qos] += shared.length
    if (own !== null) {
      this.write(own)
    } else if (shared.length <= SPLIT_AT) {
      this.write(m.take(v5, qos, retain, id, dup))
    } else {
      const at = idOffset(shared)
      const head = Buffer.allocUnsafe(at + 2)
      shared.copy(head, 0, 0, at)
      head[at] = id >> 8
      head[at + 1] = id & 0xff
      if (dup) head[0] = head[0]! | 0x08
      this.write(head)
      this.broker.stats.messagesSent-- // one packet in two writes
      this.write(shared.subarray(at + 2))
    }
    return true
  }

  /** {@link Link.whenDrained}: pump the log once the socket drained (one wait at a time). */
  whenDrained (): void {
    if (this.#waitingDrain) return
    this.#waitingDrain = true
    this.stream.once('drain', onDrain)
  }

  /** The socket drained. */
  drained (): void {
    this.#waitingDrain = false
    this.log?.pump()
  }

  /** {@link Link.unpauseFlow}: its own acks (PUBACK, PUBREC, PUBCOMP) are what empties its queue: read them. */
  unpauseFlow (): void {
    if (!this.#flowPaused) return
    this.#flowPaused = false
    this.stream.resume()
  }

  /**
   * Encode a delivery for this client only (subscription ids, aliases, expiry). A new
   * outbound alias is recorded only when the packet fits the client's Maximum Packet Size
   * (the callers send every packet that fits, and drop the others): the client must never
   * get an alias it was not told about. Aliases hold at most limits.maxTopicAliasBytes;
   * beyond it the least recently used one is reassigned.
   */
  private encodeOwn (m: Routed, qos: QoS, retain: boolean, dup: boolean, id: number, ids: number[] | null): Buffer {
    let alias: number | undefined
    let topic = m.topic
    let cost = 0
    if (this.#aliasOutMax > 0) {
      const limits = this.broker.limits
      const map = (this.#aliasesOut ??= new Map())
      const known = map.get(topic)
      if (known !== undefined) {
        alias = known
        topic = ''
        map.delete(m.topic) // most recently used last
        map.set(m.topic, known)
      } else if (topic.length <= limits.maxAliasedTopicLength && (cost = topic.length + 64) <= limits.maxTopicAliasBytes) {
        const budget = limits.maxTopicAliasBytes
        const free = (this.#aliasFree ??= [])
        // make room: drop the least recently used aliases (their numbers become free)
        for (const [old, n] of map) {
          if (this.#aliasBytes + cost <= budget && (free.length > 0 || this.#aliasTop < this.#aliasOutMax)) break
          map.delete(old)
          this.#aliasBytes -= old.length + 64
          free.push(n)
        }
        alias = free.length > 0 ? free.pop() : this.#aliasTop < this.#aliasOutMax ? this.#aliasTop + 1 : undefined
      }
    }
    const buf = m.encode(this.#protocolVersion === 5, qos, retain, dup, id, ids, alias, topic, this.broker.clock.now())
    if (cost > 0 && alias !== undefined) {
      if (buf.length <= this.#maxOut) {
        this.#aliasesOut!.set(m.topic, alias)
        this.#aliasBytes += cost
        if (alias > this.#aliasTop) this.#aliasTop = alias
      } else if (alias <= this.#aliasTop) {
        this.#aliasFree!.push(alias) // not sent: the number stays free
      }
    }
    return buf
  }

  /** PUBACK from the client. */
  onPuback (id: number): void {
    this.log!.onPuback(id)
  }

  /** PUBREC from the client. */
  onPubrec (id: number, reasonCode: number): void {
    this.log!.onPubrec(id, reasonCode)
  }

  /** PUBCOMP from the client. */
  onPubcomp (id: number): void {
    this.log!.onPubcomp(id)
  }
}
