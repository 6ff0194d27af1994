/**
 * `Connection`: one client's stream. It owns the parser, the protocol state machine
 * (NEW → CONNECTING/AUTHENTICATING → CONNECTED → CLOSED), keepalive and connect timeout,
 * inbound and outbound topic aliases, the outbound inflight window (packet id → entry) and
 * the per-connection bounded queue.
 *
 * Packets are dispatched synchronously as the parser delivers them; a handler that has to
 * wait (a hook, the store) returns a promise and later packets wait in `backlog`, so packets
 * of one connection are always processed in order.
 *
 * Memory: an idle connection holds the parser and this object (keepalive and connect
 * timeout are checked by one broker-wide sweep timer, not a timer each); maps for aliases
 * and inflight entries are created on first use.
 */
import type { Duplex } from 'node:stream'
import { encode, Parser, PINGRESP, type Packet, type PacketError, type QoS, type Will } from '@culex/packet'
import type { Broker } from './broker.ts'
import { BrokerError, type BrokerErrorCode } from './errors.ts'
import { Fifo } from './fifo.ts'
import { dispatch } from './handlers/index.ts'
import type { Client, ConnectionInfo } from './options.ts'
import { idOffset, type Routed } from './routed.ts'
import { RoomWaiters } from './room.ts'
import type { SharedGroup, Session } from './session.ts'
import { encodeWithin } from './within.ts'

/** Connection states. */
export const State = { NEW: 0, CONNECTING: 1, AUTHENTICATING: 2, CONNECTED: 3, CLOSED: 4 } as const

const SENT = 1
const PUBREL = 2
/**
 * In the inflight window, its PUBLISH not sent yet: a QoS 2 entry whose packet id the store
 * does not know yet (or an entry behind one, keeping its turn); see Connection.send.
 */
const WAITING = 3

/** A QoS 1/2 delivery waiting in the queue or inflight. */
export class OutEntry {
  msg: Routed
  qos: QoS
  retain: boolean
  ids: number[] | null
  group: SharedGroup | null
  id = 0
  state = 0
  /** Sent before (resend after reconnect): DUP = 1. */
  dup = false
  /**
   * Position of this entry's record in the store, or -1. Entries replayed from the store on
   * reconnect keep their record until the client acknowledges them, so a crash in between
   * loses nothing; `storedId` is the packet id the record carries (0 = none yet).
   */
  seq = -1
  storedId = 0
  /** A store write for this entry is in flight (persistInflight): its seq is not known yet. */
  storing = false
  /** Acknowledged or dropped while `storing`: its record goes once written. */
  settled = false
  /** Bytes this entry counts in its connection's queuedBytes while queued (0: not counted). */
  bytes = 0
  /** In its connection's list of state writes to issue at the end of the tick (see Connection.send). */
  held = false
  /** Held, and its state write landed (or it needs none): its packet may go, in turn. */
  ready = false
  constructor (msg: Routed, qos: QoS, retain: boolean, ids: number[] | null, group: SharedGroup | null) {
    this.msg = msg
    this.qos = qos
    this.retain = retain
    this.ids = ids
    this.group = group
  }
}

function flushHeld (c: Connection): void {
  c.flushHeld()
}

const CONN = Symbol('culex.connection')
type Owned = Duplex & { [CONN]: Connection }
function onData (this: Owned, chunk: Buffer): void {
  const c = this[CONN]
  c.lastSeen = c.broker.clock.now()
  c.broker.stats.bytesReceived += chunk.length
  c.parser.parse(chunk)
}
function onError (this: Owned, err: Error): void {
  const c = this[CONN]
  c.error('BROKER_ERR_SOCKET', `stream error: ${err.message}`, err)
  c.teardown(false)
}
function onEnd (this: Owned): void {
  this[CONN].teardown(false)
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
export class Connection implements Client {
  readonly broker: Broker
  readonly stream: Duplex
  readonly #info: ConnectionInfo
  readonly parser: Parser<Connection>
  id = ''
  protocolVersion: 0 | 3 | 4 | 5 = 0
  username: string | undefined = undefined
  keepalive = 0
  state: number = State.NEW
  session: Session | null = null
  will: Will | null = null
  /**
   * Session Expiry Interval (s) this connection grants its session, applied when the
   * connection ends [MQTT-3.1.2-5]; `expiryRequested` is what the client asked for in
   * CONNECT (the DISCONNECT rule compares with it [MQTT-3.14.2-2]).
   */
  expiry = 0
  expiryRequested = 0
  /** Enhanced auth method of this connection (5.0). */
  authMethod: string | undefined = undefined
  /** A re-authentication (AUTH 0x19) is in progress: the broker answered AUTH 0x18 (5.0). */
  reauthenticating = false
  /** Set while the CONNECT waits for AUTH packets. */
  pendingConnect: unknown = null
  lastSeen: number
  /** Connect deadline (ms since epoch) while no CONNECT was processed; 0 after. */
  deadline: number
  // inbound
  backlog: Packet[] | null = null
  busy = false
  aliasesIn: Map<number, string> | null = null
  /** QoS 1 PUBACKs not yet sent + QoS 2 awaiting PUBREL. */
  inUnacked = 0
  ackTail: Promise<unknown> | null = null
  rateStart = 0
  rateCount = 0
  // outbound
  inflight: Map<number, OutEntry> | null = null
  queue: Fifo<OutEntry> | null = null
  lastId = 0
  /**
   * Packet ids of resumed deliveries that wait in the queue with the id they were sent with
   * before (see Broker.resumeSession): the client may still hold them, so nextId skips them.
   */
  heldIds: Set<number> | null = null
  window = 65535
  maxOut = 268435460
  aliasOutMax = 0
  /** Outbound aliases, least recently used first (re-inserted on use). */
  aliasesOut: Map<string, number> | null = null
  /** Approximate bytes `aliasesOut` holds (limits.maxTopicAliasBytes). */
  aliasBytes = 0
  /** Highest outbound alias assigned so far. */
  aliasTop = 0
  /** Outbound alias numbers (≤ aliasTop) not in use. At most budget / 64 + 1 of them. */
  aliasFree: number[] | null = null
  /** No CONNECT parsed yet: small packet limit. */
  preConnect = true
  /** While counted among the broker's sockets without CONNECT: its remote address (undefined: unknown); null once not counted. */
  pendingAddr: string | undefined | null = null
  /** A parse error that waits until the packets parsed before it were processed. */
  parseError: PacketError | null = null
  resuming = false
  corked = false
  corkedBytes = 0
  waitingDrain = false
  disconnectReason = -1
  /** Callbacks waiting for room to deliver more (paced retained delivery, see hasRoom). */
  roomWaiters: Array<() => void> | null = null
  // flow control (see overQueued)
  /** Payload + topic bytes of the entries in `queue` (entries put back by a resume are not counted). */
  queuedBytes = 0
  /** The queue is beyond limits.maxQueuedMessages / maxQueuedBytes: publishers' acks wait for room. */
  overQueued = false
  /**
   * While the queue is beyond its bound: when it last made progress (went beyond it, or sent
   * a queued entry), ms since epoch, for the stall timeout; 0 while within. A slow subscriber
   * that keeps reading is not stalled, one that stopped is.
   */
  fullSince = 0
  /** Acks waiting for their message to be within the queue's bound (see room.ts). */
  #rooms: RoomWaiters | null = null
  /** Entries queued so far (running count; positions for #rooms). */
  #enq = 0
  /** QoS 1/2 PUBLISH from this client whose ack waits (store writes, a full queue). */
  ackWaiting = 0
  /** Reading from this (3.x) publisher is paused: ackWaiting reached limits.maxInflight. */
  flowPaused = false
  /** QoS 2 entries whose packet id or PUBREL state is written at the end of this tick (see send). */
  heldOut: OutEntry[] | null = null
  /** Held entries in the order their packets go (each once `ready`). */
  waitOut: OutEntry[] | null = null

  constructor (broker: Broker, stream: Duplex, info: ConnectionInfo) {
    this.broker = broker
    this.stream = stream
    this.#info = info
    this.lastSeen = broker.clock.now()
    const ct = broker.limits.connectTimeout
    this.deadline = ct > 0 && ct < Infinity ? this.lastSeen + ct : 0
    const limits = broker.limits
    this.parser = new Parser({
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
    broker.watch(this)
  }

  /** What the app said about the peer; `remoteAddress` falls back to the socket's (computed on use, not kept). */
  get info (): ConnectionInfo {
    const info = this.#info
    if (info.remoteAddress !== undefined) return info
    const addr = (this.stream as { remoteAddress?: string }).remoteAddress
    return addr === undefined ? info : { ...info, remoteAddress: addr }
  }

  /** True once the connection is closed (re-read after every await). */
  get isClosed (): boolean {
    return this.state === State.CLOSED
  }

  get connected (): boolean {
    return this.state === State.CONNECTED
  }

  // ───────── inbound ─────────

  onPacket (packet: Packet): void {
    if (this.state === State.CLOSED) return
    if (this.preConnect) {
      // the first packet, a CONNECT (the parser checks): the socket stops counting as without CONNECT
      this.preConnect = false
      this.parser.setMaxPacketSize(this.broker.limits.maxPacketSize)
      this.broker.admitted(this)
    }
    if (this.busy) {
      (this.backlog ??= []).push(packet)
      if (this.backlog.length === 1000) this.stream.pause()
      return
    }
    this.run(packet)
  }

  run (packet: Packet): void {
    let r: void | Promise<void>
    try {
      r = dispatch(this, packet)
    } catch (err) {
      this.fail(err)
      return
    }
    if (r !== undefined) {
      this.busy = true
      r.then(() => { this.resume() }, (err: unknown) => { this.fail(err); this.resume() })
    }
  }

  resume (): void {
    this.busy = false
    const backlog = this.backlog
    if (backlog !== null) {
      for (;;) {
        if (this.busy || this.state === State.CLOSED) return
        if (backlog.length === 0) break
        const p = backlog.shift()!
        if (backlog.length === 999 && !this.flowPaused) this.stream.resume()
        this.run(p)
      }
    }
    if (this.parseError !== null && !this.busy) {
      // the packets parsed before the bad one are done: now answer the bad one
      const e = this.parseError
      this.parseError = null
      this.onParseError(e)
    }
  }

  fail (err: unknown): void {
    if (this.state === State.CLOSED) return
    const e = err instanceof BrokerError ? err : new BrokerError('BROKER_ERR_HOOK', `handler failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    this.broker.emitClientError(this, e)
    if (this.state === State.CONNECTING || this.state === State.AUTHENTICATING) {
      // no CONNACK yet: answer with 0x80 Unspecified error / return code 3 Server unavailable
      if (this.protocolVersion === 5) this.writePacket({ cmd: 'connack', sessionPresent: false, reasonCode: 0x80 }, 5)
      else this.writePacket({ cmd: 'connack', sessionPresent: false, returnCode: 3 }, this.protocolVersion === 3 ? 3 : 4)
      this.teardown(true)
      return
    }
    this.disconnect(e.reasonCode ?? 0x80, e.message)
  }

  onParseError (err: PacketError): void {
    if (this.state === State.CLOSED) return
    if (this.busy) {
      // valid packets of the same read wait behind a handler: process them first
      this.parseError = err
      return
    }
    const first = err.code === 'PACKET_ERR_CONNECT_EXPECTED'
    if (first) this.error('BROKER_ERR_CONNECT_FIRST', err.message, err) // [MQTT-3.1.0-1]
    else this.error('BROKER_ERR_MALFORMED_PACKET', `bad packet: ${err.message}`, err, err.reasonCode)
    if (this.state === State.NEW && err.reasonCode === 0x84) {
      // unsupported protocol level: CONNACK return code 1 in the 3.1.1 format [MQTT-3.1.2-2]
      this.writePacket({ cmd: 'connack', sessionPresent: false, returnCode: 1 }, 4)
      this.teardown(true)
      return
    }
    if (this.state === State.NEW) {
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
    this.broker.emitClientError(this, new BrokerError(code, `client ${JSON.stringify(this.id)}: ${message}`, opts))
  }

  /**
   * Called by the broker's sweep (one timer for all connections): the connect timeout
   * before CONNECT, then keepalive — close when nothing arrived for 1.5 × keepalive
   * [MQTT-3.1.2-24].
   */
  check (now: number): void {
    if (this.state < State.CONNECTED) {
      if (this.deadline > 0 && now >= this.deadline) {
        this.error('BROKER_ERR_CONNECT_TIMEOUT', `no CONNECT within ${this.broker.limits.connectTimeout} ms`)
        this.teardown(false)
      }
      return
    }
    if (this.overQueued && this.fullSince > 0) {
      const stall = this.broker.limits.stallTimeout
      if (stall > 0 && now - this.fullSince >= stall) {
        this.stall(now - this.fullSince)
        return
      }
    }
    if (this.flowPaused) this.lastSeen = now // not read while paused: its silence is ours
    if (this.keepalive === 0 || this.state !== State.CONNECTED) return
    const idle = now - this.lastSeen
    if (idle >= this.keepalive * 1500) {
      this.error('BROKER_ERR_KEEPALIVE_TIMEOUT', `nothing received for ${idle} ms (keepalive ${this.keepalive} s)`)
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
    if (this.state === State.CLOSED) return
    if (!this.corked) {
      this.corked = true
      this.stream.cork()
      this.broker.scheduleUncork(this)
    } else if (this.corkedBytes > 65536) {
      this.stream.uncork()
      this.stream.cork()
      this.corkedBytes = 0
    }
    this.corkedBytes += buf.length
    const st = this.broker.stats
    st.bytesSent += buf.length
    st.messagesSent++
    this.stream.write(buf)
  }

  uncork (): void {
    if (!this.corked) return
    this.corked = false
    this.corkedBytes = 0
    this.stream.uncork()
  }

  writePacket (packet: Packet, version?: 3 | 4 | 5): void {
    this.write(encode(packet, version ?? (this.protocolVersion === 0 ? 4 : this.protocolVersion)))
  }

  pingresp (): void {
    this.write(PINGRESP)
  }

  get backedUp (): boolean {
    return this.stream.writableLength - this.corkedBytes > this.broker.limits.maxBufferedBytes
  }

  /**
   * Close with a reason: 5.0 clients get DISCONNECT `reasonCode` first (not before CONNACK,
   * where the caller sends a CONNACK instead).
   */
  disconnect (reasonCode: number, reasonString?: string): void {
    if (this.state === State.CLOSED) return
    if (this.protocolVersion === 5 && this.state === State.CONNECTED && reasonCode !== 0) {
      const props = reasonString !== undefined ? { reasonString } : undefined
      try {
        this.write(encodeWithin({ cmd: 'disconnect', reasonCode, ...(props !== undefined ? { properties: props } : {}) }, this.maxOut))
      } catch { /* an unencodable reason string is not worth a crash */ }
    }
    this.disconnectReason = reasonCode
    this.teardown(true)
  }

  /** {@link Client.close}. */
  close (reasonCode = 0x98, reasonString?: string): void {
    this.disconnect(reasonCode, reasonString)
  }

  /**
   * Final cleanup, once. `normal` is true only for a DISCONNECT 0x00 from the client
   * (the will is then discarded) — callers pass the will decision through `this.will`.
   */
  teardown (_ended: boolean): void {
    if (this.state === State.CLOSED) return
    const wasConnected = this.state === State.CONNECTED
    this.state = State.CLOSED
    this.#wakeRoom() // they see the connection closed and stop
    this.uncork()
    this.stream.end()
    const s = this.stream
    this.broker.clock.setTimeout(() => { s.destroy() }, 2000).unref()
    this.broker.connectionClosed(this, wasConnected)
    if (this.#rooms !== null && this.#rooms.size > 0) {
      // the publishers waiting for room are owed nothing more by this connection: a clean
      // session ended with it, a persistent one handed its queue to the store (wait for that)
      const s = this.session
      const writes = s !== null && s.persistent ? s.settled() : null
      if (writes === null) this.#releaseRoom()
      else writes.then(() => { this.#releaseRoom() }, () => { this.#releaseRoom() })
    }
  }

  /**
   * Stalled: the queue stayed beyond its bound for limits.stallTimeout. The connection ends
   * (5.0: DISCONNECT 0x97): a clean session ends with it and its queue is released; a
   * persistent session keeps its queue in the store until it reconnects (bounded by
   * limits.maxStoredMessages).
   */
  stall (ms: number): void {
    this.broker.stats.subscribersStalled++
    this.broker.logger.warn({ client: this.id, queued: this.queue?.length ?? 0, ms }, 'subscriber stalled: queue full too long')
    this.error('BROKER_ERR_QUOTA_EXCEEDED', `queue full for ${ms} ms (limits.stallTimeout): subscriber stalled`, undefined, 0x97)
    this.disconnect(0x97, 'quota exceeded: queue full')
  }

  /**
   * The promise a publisher's ack waits on while this connection's queue is beyond its bound
   * (queuePolicy 'block'), for the message just queued: resolves once that message is within
   * the bound, or the connection closed (shared by up to 16 consecutive messages, see room.ts).
   */
  room (): Promise<void> {
    return (this.#rooms ??= new RoomWaiters()).wait(this.#enq)
  }

  #releaseRoom (): void {
    if (this.#rooms !== null) this.#rooms.releaseAll()
  }

  // ───────── outbound: deliveries ─────────

  /**
   * Deliver a routed message (hot path: no allocation for QoS 0 shared forms). Returns the
   * QoS 1/2 entry (sent or queued), null for QoS 0.
   */
  deliver (m: Routed, qos: QoS, retain: boolean, ids: number[] | null, group: SharedGroup | null): OutEntry | null {
    const v5 = this.protocolVersion === 5
    if (qos === 0) {
      if (this.backedUp) {
        this.broker.stats.publishDropped++
        this.broker.counters.drops.backedUp++
        return null
      }
      let buf: Buffer
      if (v5 && (ids !== null || this.aliasOutMax > 0 || m.expiresAt !== undefined)) {
        buf = this.encodeOwn(m, 0, retain, false, 0, ids) // records a new alias only if it fits maxOut
      } else {
        buf = m.wire(v5, 0, retain)
      }
      if (buf.length > this.maxOut) { // [MQTT-3.1.2-25]
        this.broker.stats.publishDropped++
        this.broker.counters.drops.tooLarge++
        return null
      }
      this.broker.stats.publishSent++
      const k = this.broker.counters
      k.publishOut[0]++
      k.bytesOut[0] += buf.length
      this.write(buf)
      return null
    }
    const e = new OutEntry(m, qos, retain, ids, group)
    if (!this.resuming && (this.queue === null || this.queue.length === 0) && this.inflightSize() < this.window && !this.backedUp) {
      // sent now: the entry may keep the view of the socket chunk while it waits for its ack
      // (for the first limits.maxInflight in flight); queued entries copy, so a long queue never pins chunks
      if (this.inflightSize() >= this.broker.limits.maxInflight) m.own()
      this.send(e)
    } else {
      m.own()
      this.enqueue(e)
    }
    return e
  }

  /**
   * The store wrote `e` (persistInflight) as `seq`: bring the record in step, or remove it.
   * `gen` is the write's generation (Session.track): the follow-up counts in it, so a
   * reconnect that waits for the write also waits for the update it issued.
   */
  stored (e: OutEntry, seq: number, gen: number): void {
    e.storing = false
    if (this.session === null) return
    if (e.settled) {
      this.chainStore(this.broker.store.removeOutgoing(this.session.clientId, seq), 'removing a delivered message', gen)
      return
    }
    e.seq = seq
    // the record carries the state the entry had when written (storedId): bring it up to date
    if (e.state === PUBREL) this.markStored(e, 'pubrel', gen)
    else if (e.state === SENT && e.storedId !== e.id) this.markStored(e, 'sent', gen)
    else if (e.state === WAITING) {
      // written with its packet id: the PUBLISH may go; else the id is written first
      if (e.storedId === e.id) this.#ready(e)
      else this.#hold(e)
    }
  }

  /** The store write of `e` failed (reported by the caller): a held PUBLISH goes anyway, as without a store. */
  storeFailed (e: OutEntry): void {
    if (e.state === WAITING) this.#ready(e)
  }

  inflightSize (): number {
    return this.inflight === null ? 0 : this.inflight.size
  }

  enqueue (e: OutEntry): void {
    const q = (this.queue ??= new Fifo())
    q.push(e)
    this.#enq++
    e.bytes = e.msg.payload.length + e.msg.topic.length
    this.queuedBytes += e.bytes
    const limits = this.broker.limits
    if (q.length > limits.maxQueuedMessages || this.queuedBytes > limits.maxQueuedBytes) {
      if (this.broker.queuePolicy === 'drop-oldest') {
        // the old behaviour, chosen explicitly: counted and logged (once per overflow episode)
        const old = q.shift()!
        this.queuedBytes -= old.bytes
        this.settleStored(old)
        const st = this.broker.stats
        st.publishDropped++
        this.broker.counters.drops.queueFull++
        if (st.queueDropped++ % 1000 === 0) {
          this.broker.logger.warn({ client: this.id, queued: q.length, dropped: st.queueDropped }, 'queue full: dropped the oldest message (queuePolicy drop-oldest)')
        }
      } else if (!this.overQueued) {
        this.overQueued = true
        this.fullSince = this.broker.clock.now()
        if (this.flowPaused) {
          // its own acks (PUBACK, PUBREC, PUBCOMP) are what empties this queue: read them
          this.flowPaused = false
          this.stream.resume()
        }
      }
    }
    if (this.backedUp && !this.waitingDrain) {
      this.waitingDrain = true
      this.stream.once('drain', () => {
        this.waitingDrain = false
        this.pump()
      })
    }
  }

  /**
   * Whether a delivery at `qos` now would neither be dropped nor grow the queue beyond a
   * small margin: the socket is not backed up, and for QoS 1/2 the inflight window has room
   * or fewer than 64 entries (at most maxQueuedMessages) wait. Deliveries that must not be
   * dropped for want of room (retained messages on SUBSCRIBE) wait for it with waitRoom.
   */
  hasRoom (qos: QoS): boolean {
    if (this.backedUp) return false
    if (qos === 0) return true
    const queued = this.queue === null ? 0 : this.queue.length
    if (queued === 0 && this.inflightSize() < this.window) return true
    return queued < Math.min(64, this.broker.limits.maxQueuedMessages)
  }

  /** Call `fn` once there may be room again (an ack, a drained socket) or the connection closed. */
  waitRoom (fn: () => void): void {
    (this.roomWaiters ??= []).push(fn)
    if (this.backedUp && !this.waitingDrain) {
      this.waitingDrain = true
      this.stream.once('drain', () => { this.waitingDrain = false; this.pump() })
    }
  }

  #wakeRoom (): void {
    const w = this.roomWaiters
    if (w === null) return
    this.roomWaiters = null
    for (const fn of w) fn()
  }

  /** Move queued entries into the inflight window while there is room; wake room waiters. */
  pump (): void {
    this.#pumpQueue()
    if (this.overQueued) this.#checkRoom()
    if (this.roomWaiters !== null && !this.backedUp) this.#wakeRoom()
  }

  #pumpQueue (): void {
    const q = this.queue
    if (q === null || this.resuming) return
    const now = this.broker.clock.now()
    while (q.length > 0 && this.inflightSize() < this.window && this.state === State.CONNECTED) {
      if (this.backedUp) {
        if (!this.waitingDrain) {
          this.waitingDrain = true
          this.stream.once('drain', () => { this.waitingDrain = false; this.pump() })
        }
        return
      }
      const e = q.shift()!
      this.queuedBytes -= e.bytes
      // expired messages are dropped from queues [MQTT-3.3.2-5], unless sent before (a
      // resumed delivery keeps its packet id): onward delivery has started
      if (e.id === 0 && e.msg.expired(now)) {
        this.settleStored(e)
        this.broker.stats.publishDropped++
        this.broker.counters.drops.expired++
        continue
      }
      this.send(e)
      if (this.overQueued) this.fullSince = now
    }
  }

  /** Back within the bound (count and bytes): the acks waiting for room go out. */
  #checkRoom (): void {
    const q = this.queue
    const limits = this.broker.limits
    if (q !== null && (q.length > limits.maxQueuedMessages || this.queuedBytes > limits.maxQueuedBytes)) {
      // still beyond it: the messages that are within it again are acknowledged
      if (this.#rooms !== null && this.queuedBytes <= limits.maxQueuedBytes) this.#rooms.release(q.length, this.#enq, limits.maxQueuedMessages)
      return
    }
    this.overQueued = false
    this.fullSince = 0
    this.#releaseRoom()
  }

  nextId (): number {
    const inflight = (this.inflight ??= new Map())
    const held = this.heldIds
    for (;;) {
      this.lastId = this.lastId === 65535 ? 1 : this.lastId + 1
      if (!inflight.has(this.lastId) && (held === null || !held.has(this.lastId))) return this.lastId
    }
  }

  /**
   * Send a QoS 1/2 entry (assigning a packet id unless it has one) and track it inflight.
   *
   * A QoS 2 entry of a persistent session that has (or is getting) a store record goes out
   * only once that record carries its packet id: a crash then never finds a delivery the
   * client holds under an id the store does not know (the next run would send it again
   * under a new id, a second delivery, and could give that id to another message, which the
   * client would take for the one it holds: a loss). The writes of one tick go together
   * (flushHeld). QoS 1 needs no such wait (a duplicate is allowed, and a client holds no
   * state for a QoS 1 id); it only keeps its turn behind a held QoS 2 entry.
   */
  send (e: OutEntry): void {
    if (e.id === 0) e.id = this.nextId()
    else if (this.heldIds !== null) this.heldIds.delete(e.id) // inflight from now on
    if (e.qos === 2 && e.storedId !== e.id && e.group === null && (e.seq >= 0 || e.storing || this.broker.persistInflight) &&
      this.session !== null && this.session.persistent) {
      e.state = WAITING
      ;(this.inflight ??= new Map()).set(e.id, e)
      this.#wait(e)
      return
    }
    if (this.waitOut !== null) {
      // behind a held one: in turn, so deliveries keep their order
      e.state = WAITING
      ;(this.inflight ??= new Map()).set(e.id, e)
      e.ready = true
      this.waitOut.push(e)
      return
    }
    this.#transmit(e)
  }

  /** Hold `e`'s packet until its state write landed; packets go in the order held. */
  #wait (e: OutEntry): void {
    e.ready = false
    ;(this.waitOut ??= []).push(e)
    this.#hold(e)
  }

  /** Issue `e`'s state write with the others of this tick. */
  #hold (e: OutEntry): void {
    if (e.held) return
    e.held = true
    if (this.heldOut === null) {
      this.heldOut = []
      process.nextTick(flushHeld, this)
    }
    this.heldOut.push(e)
  }

  /**
   * Once per tick: write the packet ids (and PUBREL states) of the held entries, together,
   * then send their packets. An entry whose record is still being written waits for that
   * write (stored); one with no record yet (retained on SUBSCRIBE) gets one, with its id.
   */
  flushHeld (): void {
    const list = this.heldOut!
    this.heldOut = null
    const s = this.session
    let batch: OutEntry[] | null = null
    let writes: Array<Promise<void>> | null = null
    for (const e of list) {
      e.held = false
      if (this.state === State.CLOSED || s === null || this.inflight?.get(e.id) !== e) continue
      if (e.storing) continue // its write is in flight: stored() takes it from there
      const rel = e.state === PUBREL
      if (e.seq >= 0 && (rel || e.storedId !== e.id)) {
        e.storedId = e.id
        ;(writes ??= []).push(this.broker.store.updateOutgoing(s.clientId, e.seq, { messageId: e.id, state: rel ? 'pubrel' : 'sent' }))
        ;(batch ??= []).push(e)
      } else if (e.seq < 0) {
        // no record at all (a retained message on SUBSCRIBE): written now, with its id
        e.storing = true
        e.storedId = e.id
        const p = this.broker.store.enqueue(s.clientId, e.msg.stored(e.qos, e.retain), e.ids ?? undefined, { messageId: e.id, state: 'sent' })
        const gen = s.track(p)
        p.then((r) => { this.stored(e, r.seq, gen) }, (err: unknown) => {
          e.storing = false
          this.broker.storeError('storing a delivery', err)
          this.storeFailed(e)
        })
      } else {
        e.ready = true
      }
    }
    if (batch !== null) {
      const done = batch
      s!.track(Promise.all(writes!).then(() => { this.#readyAll(done) }, (err: unknown) => {
        // not durable: sent anyway, as before this write existed (the store error is reported)
        this.broker.storeError('recording sent packet ids', err)
        this.#readyAll(done)
      }))
    }
    this.#release()
  }

  #ready (e: OutEntry): void {
    e.ready = true
    this.#release()
  }

  #readyAll (list: OutEntry[]): void {
    for (const e of list) e.ready = true
    this.#release()
  }

  /** Send the held packets that may go, in order: each one's state write landed. */
  #release (): void {
    const w = this.waitOut
    if (w === null) return
    let i = 0
    for (; i < w.length; i++) {
      const e = w[i]!
      // no longer current (acknowledged, dropped, or the connection closed): skipped
      if (this.state === State.CLOSED || this.inflight?.get(e.id) !== e || (e.state !== WAITING && e.state !== PUBREL)) continue
      if (!e.ready) break
      e.ready = false
      if (e.state === WAITING) this.#transmit(e)
      else this.writePacket({ cmd: 'pubrel', messageId: e.id })
    }
    if (i === w.length) this.waitOut = null
    else if (i > 0) w.splice(0, i)
  }

  #transmit (e: OutEntry): void {
    e.state = SENT
    const v5 = this.protocolVersion === 5
    const m = e.msg
    let own: Buffer | null = null
    if (v5 && (e.ids !== null || this.aliasOutMax > 0 || m.expiresAt !== undefined)) {
      own = this.encodeOwn(m, e.qos, e.retain, e.dup, e.id, e.ids)
    }
    const shared = own === null ? m.wire(v5, e.qos, e.retain) : own
    if (shared.length > this.maxOut) { // too large for this client: not sent [MQTT-3.1.2-25]
      if (this.inflight?.get(e.id) === e) this.inflight.delete(e.id) // held until now
      this.settleStored(e)
      this.broker.stats.publishDropped++
      this.broker.counters.drops.tooLarge++
      return
    }
    ;(this.inflight ??= new Map()).set(e.id, e)
    if (e.seq >= 0 && e.storedId !== e.id) this.markStored(e, 'sent')
    this.broker.stats.publishSent++
    const k = this.broker.counters
    k.publishOut[e.qos]++
    k.bytesOut[e.qos] += shared.length
    if (own !== null) {
      this.write(own)
    } else if (shared.length <= SPLIT_AT) {
      this.write(m.take(v5, e.qos, e.retain, e.id, e.dup))
    } else {
      const at = idOffset(shared)
      const head = Buffer.allocUnsafe(at + 2)
      shared.copy(head, 0, 0, at)
      head[at] = e.id >> 8
      head[at + 1] = e.id & 0xff
      if (e.dup) head[0] = head[0]! | 0x08
      this.write(head)
      this.broker.stats.messagesSent-- // one packet in two writes
      this.write(shared.subarray(at + 2))
    }
  }

  /**
   * Encode a delivery for this client only (subscription ids, aliases, expiry). A new
   * outbound alias is recorded only when the packet fits the client's Maximum Packet Size
   * (the callers send every packet that fits, and drop the others): the client must never
   * get an alias it was not told about. Aliases hold at most limits.maxTopicAliasBytes;
   * beyond it the least recently used one is reassigned.
   */
  encodeOwn (m: Routed, qos: QoS, retain: boolean, dup: boolean, id: number, ids: number[] | null): Buffer {
    let alias: number | undefined
    let topic = m.topic
    let cost = 0
    if (this.aliasOutMax > 0) {
      const limits = this.broker.limits
      const map = (this.aliasesOut ??= new Map())
      const known = map.get(topic)
      if (known !== undefined) {
        alias = known
        topic = ''
        map.delete(m.topic) // most recently used last
        map.set(m.topic, known)
      } else if (topic.length <= limits.maxAliasedTopicLength && (cost = topic.length + 64) <= limits.maxTopicAliasBytes) {
        const budget = limits.maxTopicAliasBytes
        const free = (this.aliasFree ??= [])
        // make room: drop the least recently used aliases (their numbers become free)
        for (const [old, n] of map) {
          if (this.aliasBytes + cost <= budget && (free.length > 0 || this.aliasTop < this.aliasOutMax)) break
          map.delete(old)
          this.aliasBytes -= old.length + 64
          free.push(n)
        }
        alias = free.length > 0 ? free.pop() : this.aliasTop < this.aliasOutMax ? this.aliasTop + 1 : undefined
      }
    }
    const buf = m.encode(this.protocolVersion === 5, qos, retain, dup, id, ids, alias, topic, this.broker.clock.now())
    if (cost > 0 && alias !== undefined) {
      if (buf.length <= this.maxOut) {
        this.aliasesOut!.set(m.topic, alias)
        this.aliasBytes += cost
        if (alias > this.aliasTop) this.aliasTop = alias
      } else if (alias <= this.aliasTop) {
        this.aliasFree!.push(alias) // not sent: the number stays free
      }
    }
    return buf
  }

  /** PUBACK from the client. */
  onPuback (id: number): void {
    const e = this.inflight?.get(id)
    if (e === undefined || e.qos !== 1 || e.state === WAITING) return
    this.inflight!.delete(id)
    this.settleStored(e)
    this.pump()
  }

  /** PUBREC from the client. */
  onPubrec (id: number, reasonCode: number): void {
    const e = this.inflight?.get(id)
    if (e !== undefined && e.state === WAITING) return // its PUBLISH has not gone: not for it
    if (e === undefined || e.qos !== 2) {
      // [MQTT-4.3.3-?] answer an unknown id with PUBREL 0x92 (5.0) so the client can clean up
      this.writePacket(this.protocolVersion === 5 ? { cmd: 'pubrel', messageId: id, reasonCode: 0x92 } : { cmd: 'pubrel', messageId: id })
      return
    }
    if (reasonCode >= 0x80) {
      this.inflight!.delete(id)
      this.settleStored(e)
      this.pump()
      return
    }
    if (e.state === PUBREL && this.waitOut !== null && this.waitOut.includes(e)) return // a repeated PUBREC: its PUBREL is on the way
    e.state = PUBREL
    if (e.seq >= 0 && this.session !== null && this.session.persistent) {
      // the PUBREL goes once the record says so: after a crash before that, the next run
      // would send the PUBLISH again, which a client that already released the id delivers twice
      this.#wait(e)
      return
    }
    if (e.seq >= 0) this.markStored(e, 'pubrel')
    this.writePacket({ cmd: 'pubrel', messageId: id })
  }

  /** PUBCOMP from the client. */
  onPubcomp (id: number): void {
    const e = this.inflight?.get(id)
    if (e === undefined || e.state !== PUBREL) return
    this.inflight!.delete(id)
    this.settleStored(e)
    this.pump()
  }

  /** A stored entry is done (acknowledged or dropped): its record goes. Others: nothing. */
  settleStored (e: OutEntry): void {
    if (e.storing) {
      e.settled = true
      return
    }
    if (e.seq < 0 || this.session === null) return
    const seq = e.seq
    e.seq = -1
    this.chainStore(this.broker.store.removeOutgoing(this.session.clientId, seq), 'removing a delivered message')
  }

  /** Keep a stored entry's record in step with the flow (packet id, PUBREL state). */
  markStored (e: OutEntry, state: 'sent' | 'pubrel', gen?: number): void {
    if (this.session === null) return
    e.storedId = e.id
    this.chainStore(this.broker.store.updateOutgoing(this.session.clientId, e.seq, { messageId: e.id, state }), 'updating a sent message', gen)
  }

  /** A reconnect of this session reads the store only after these writes settled. */
  chainStore (p: Promise<unknown>, what: string, gen?: number): void {
    this.session!.track(p.catch((err: unknown) => { this.broker.storeError(what, err) }), gen)
  }

  /** Resend an entry restored from the store after reconnect. */
  resendPubrel (id: number, e: OutEntry): void {
    e.id = id
    e.state = PUBREL
    ;(this.inflight ??= new Map()).set(id, e)
    this.writePacket({ cmd: 'pubrel', messageId: id })
  }

  /** Entries this connection still holds, in order: inflight (as sent), then queued. */
  pending (): OutEntry[] {
    const out: OutEntry[] = []
    if (this.inflight !== null) for (const e of this.inflight.values()) out.push(e)
    if (this.queue !== null) for (const e of this.queue) out.push(e)
    this.inflight = null
    this.queue = null
    this.queuedBytes = 0
    return out
  }

  static readonly SENT = SENT
  static readonly PUBREL = PUBREL
}
