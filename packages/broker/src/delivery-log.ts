/**
 * `DeliveryLog`: the outgoing QoS 1/2 deliveries of one session while a connection holds it,
 * each an {@link OutEntry} whose whole life is decided here, as an explicit state machine:
 *
 * ```
 *   QUEUED ──send──▶ WAITING ──id durable──▶ SENT(id) ──PUBACK (QoS 1)──────────────▶ done
 *      │               (QoS 2 of a persistent     │
 *      └──send─────────── session only) ──────────┘──PUBREC──▶ PUBREL ──PUBCOMP──▶ done
 * ```
 *
 * with, beside the state, where the entry's store record is: none (`seq` -1), being written
 * (`storing`), or written (`seq`, carrying packet id `storedId`). Every store write a step
 * needs is issued here: the record of a delivery to a connected persistent session
 * (`persist`, before the publisher's ack), its packet id before a QoS 2 PUBLISH leaves and
 * its PUBREL state before the PUBREL leaves (batched per tick, `flushHeld`), its removal once
 * done (`settle`). No other module changes an entry's state.
 *
 * The log also owns the bounded queue in front of the inflight window (flow control: the
 * publishers of a message that overflows it wait on `room()`), and the replay of a resumed
 * session's stored records. It writes bytes only through its {@link Link} (the connection).
 *
 * One log per session and connection: it is made when a connection takes the session and
 * closed with that connection (`detach` hands what is still pending to the session manager,
 * which stores it for the offline session). Late store callbacks of a closed log find it
 * closed and do nothing but keep the records in step.
 */
import type { QoS } from '@culex/packet'
import type { Engine } from './engine.ts'
import { Fifo } from './fifo.ts'
import { RoomWaiters } from './room.ts'
import type { Routed } from './routed.ts'
import type { SharedGroup, Session } from './session.ts'
import type { OutgoingRecord, OutgoingUpdate, Store, StoredMessage } from './store.ts'

/** Not sent yet (in the queue, or just made). */
const QUEUED = 0
/** PUBLISH sent, not acknowledged. */
const SENT = 1
/** QoS 2: PUBREC received, PUBREL sent (or held until its state is durable). */
const PUBREL = 2
/**
 * In the inflight window, its PUBLISH not sent yet: a QoS 2 entry whose packet id the store
 * does not know yet (or an entry behind one, keeping its turn); see DeliveryLog.send.
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
  state = QUEUED
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
  /** Bytes this entry counts in its log's queuedBytes while queued (0: not counted). */
  bytes = 0
  /** In its log's list of state writes to issue at the end of the tick (see DeliveryLog.send). */
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

  /** The store's view of this entry's progress: undefined while not sent. */
  update (): OutgoingUpdate | undefined {
    return this.state === QUEUED ? undefined : { messageId: this.id, state: this.state === PUBREL ? 'pubrel' : 'sent' }
  }

  /** Whether its PUBLISH may have reached the client (a QoS 2 one then completes with it [MQTT-4.8.2-4]). */
  get unsent (): boolean {
    return this.state === QUEUED
  }
}

/** What a log needs of its connection: bytes out and the socket's state. */
export interface Link {
  readonly id: string
  readonly protocolVersion: 0 | 3 | 4 | 5
  /** The connection closed: nothing more is sent. */
  readonly isClosed: boolean
  /** Past CONNACK and not closed. */
  readonly connected: boolean
  /** The socket holds more than limits.maxBufferedBytes not yet written. */
  readonly backedUp: boolean
  /** Encode and write one QoS 1/2 PUBLISH; false when too large for the client (not sent). */
  sendPublish (m: Routed, qos: QoS, retain: boolean, dup: boolean, id: number, ids: number[] | null): boolean
  writePacket (packet: { cmd: 'pubrel', messageId: number, reasonCode?: number }): void
  /** Call the log's pump once the socket drained (one wait at a time). */
  whenDrained (): void
  /** The queue went beyond its bound: a paused (3.x) publisher on this connection is read again. */
  unpauseFlow (): void
}

function flushHeld (log: DeliveryLog): void {
  log.flushHeld()
}

/** Writes of deliveries issued while a resume reads the store (see SessionManager.resume). */
interface ResumeWrites { writes: Array<Promise<unknown>>, seqs: number[] }

/** The QoS 1/2 deliveries of one session on one connection. */
export class DeliveryLog {
  readonly #engine: Engine
  readonly session: Session
  readonly #link: Link
  #inflight: Map<number, OutEntry> | null = null
  #queue: Fifo<OutEntry> | null = null
  #lastId = 0
  /**
   * Packet ids of resumed deliveries that wait in the queue with the id they were sent with
   * before (see replay): the client may still hold them, so nextId skips them.
   */
  #heldIds: Set<number> | null = null
  /** The client's Receive Maximum (capped by limits.maxInflight). */
  window = 65535
  /** A resume is reading the store: new deliveries wait in the queue behind what it replays. */
  #resuming = false
  #live: ResumeWrites | null = null
  /** Callbacks waiting for room to deliver more (paced retained delivery, see hasRoom). */
  #roomWaiters: Array<() => void> | null = null
  // flow control (see overQueued)
  /** Payload + topic bytes of the entries in the queue (entries put back by a resume are not counted). */
  #queuedBytes = 0
  /** The queue is beyond limits.maxQueuedMessages / maxQueuedBytes: publishers' acks wait for room. */
  overQueued = false
  /**
   * While the queue is beyond its bound: when it last made progress (went beyond it, or sent
   * a queued entry), ms since epoch, for the stall timeout; 0 while within. A slow subscriber
   * that keeps reading is not stalled, one that stopped is.
   */
  #fullSince = 0
  /** Acks waiting for their message to be within the queue's bound (see room.ts). */
  #rooms: RoomWaiters | null = null
  /** Entries queued so far (running count; positions for #rooms). */
  #enq = 0
  /** QoS 2 entries whose packet id or PUBREL state is written at the end of this tick (see send). */
  #heldOut: OutEntry[] | null = null
  /** Held entries in the order their packets go (each once `ready`). */
  #waitOut: OutEntry[] | null = null

  constructor (engine: Engine, session: Session, link: Link) {
    this.#engine = engine
    this.session = session
    this.#link = link
  }

  get queuedCount (): number {
    return this.#queue === null ? 0 : this.#queue.length
  }

  get queuedBytes (): number {
    return this.#queuedBytes
  }

  inflightSize (): number {
    return this.#inflight === null ? 0 : this.#inflight.size
  }

  // ───────── new deliveries ─────────

  /**
   * A QoS 1/2 delivery (hot path): sent now when the window has room, else queued. Returns
   * its entry; the caller stores it (`persist`) for a persistent session.
   */
  deliver (m: Routed, qos: QoS, retain: boolean, ids: number[] | null, group: SharedGroup | null): OutEntry {
    const e = new OutEntry(m, qos, retain, ids, group)
    const q = this.#queue
    if (!this.#resuming && (q === null || q.length === 0) && this.inflightSize() < this.window && !this.#link.backedUp) {
      // sent now: the entry may keep the view of the socket chunk while it waits for its ack
      // (for the first limits.maxInflight in flight); queued entries copy, so a long queue never pins chunks
      if (this.inflightSize() >= this.#engine.broker.limits.maxInflight) m.own()
      this.send(e)
    } else {
      m.own()
      this.#enqueue(e)
    }
    return e
  }

  /**
   * queued → stored: a QoS 1/2 delivery to a connected persistent session is written to the
   * store too (the publisher's ack waits for it), so a crash before the subscriber
   * acknowledges loses nothing. The delivery itself does not wait: the entry learns its seq
   * when the write is done (stored). Shared-subscription deliveries stay in memory (see README).
   */
  persist (e: OutEntry): Promise<unknown> {
    const s = this.session
    e.storing = true
    // sent already (the usual case): the record carries the packet id from its first write,
    // so a crash can never find it without one and send it again as new (a QoS 2 duplicate)
    const sent = e.update()
    if (sent !== undefined) e.storedId = e.id
    const live = this.#live
    let gen = 0
    const p = this.#engine.broker.store.enqueue(s.clientId, e.msg.stored(e.qos, e.retain), e.ids ?? undefined, sent).then(live === null
      ? (r) => { this.#stored(e, r.seq, gen) }
      : (r) => {
          live.seqs.push(r.seq)
          this.#stored(e, r.seq, gen)
        }, (err: unknown) => {
      e.storing = false
      this.#storeFailed(e)
      throw err
    })
    // a reconnect of this session reads the store after the write, and the state update it issues
    gen = s.track(p)
    if (live !== null) live.writes.push(p)
    return p
  }

  #enqueue (e: OutEntry): void {
    const q = (this.#queue ??= new Fifo())
    q.push(e)
    this.#enq++
    e.bytes = e.msg.payload.length + e.msg.topic.length
    this.#queuedBytes += e.bytes
    const engine = this.#engine
    const limits = engine.broker.limits
    if (q.length > limits.maxQueuedMessages || this.#queuedBytes > limits.maxQueuedBytes) {
      if (engine.broker.queuePolicy === 'drop-oldest') {
        // the old behaviour, chosen explicitly: counted and logged (once per overflow episode)
        const old = q.shift()!
        this.#queuedBytes -= old.bytes
        this.settle(old)
        const st = engine.broker.stats
        st.publishDropped++
        engine.counters.drops.queueFull++
        if (st.queueDropped++ % 1000 === 0) {
          engine.broker.logger.warn({ client: this.#link.id, queued: q.length, dropped: st.queueDropped }, 'queue full: dropped the oldest message (queuePolicy drop-oldest)')
        }
      } else if (!this.overQueued) {
        this.overQueued = true
        this.#fullSince = engine.broker.clock.now()
        // its own acks (PUBACK, PUBREC, PUBCOMP) are what empties this queue: read them
        this.#link.unpauseFlow()
      }
    }
    if (this.#link.backedUp) this.#link.whenDrained()
  }

  // ───────── flow control ─────────

  /**
   * The promise a publisher's ack waits on while this queue is beyond its bound (queuePolicy
   * 'block'), for the message just queued: resolves once that message is within the bound,
   * or the connection closed (shared by up to 16 consecutive messages, see room.ts).
   */
  room (): Promise<void> {
    return (this.#rooms ??= new RoomWaiters()).wait(this.#enq)
  }

  #releaseRoom (): void {
    if (this.#rooms !== null) this.#rooms.releaseAll()
  }

  /** How long the queue has been full without progress (ms), 0 when it is not. */
  fullFor (now: number): number {
    return this.overQueued && this.#fullSince > 0 ? now - this.#fullSince : 0
  }

  /**
   * Whether a delivery at `qos` now would neither be dropped nor grow the queue beyond a
   * small margin: the socket is not backed up, and for QoS 1/2 the inflight window has room
   * or fewer than 64 entries (at most maxQueuedMessages) wait. Deliveries that must not be
   * dropped for want of room (retained messages on SUBSCRIBE) wait for it with waitRoom.
   */
  hasRoom (qos: QoS): boolean {
    if (this.#link.backedUp) return false
    if (qos === 0) return true
    const queued = this.queuedCount
    if (queued === 0 && this.inflightSize() < this.window) return true
    return queued < Math.min(64, this.#engine.broker.limits.maxQueuedMessages)
  }

  /** Call `fn` once there may be room again (an ack, a drained socket) or the connection closed. */
  waitRoom (fn: () => void): void {
    (this.#roomWaiters ??= []).push(fn)
    if (this.#link.backedUp) this.#link.whenDrained()
  }

  /** Wake whoever waits for room (the connection closed: they see it and stop). */
  wakeRoom (): void {
    const w = this.#roomWaiters
    if (w === null) return
    this.#roomWaiters = null
    for (const fn of w) fn()
  }

  /** Move queued entries into the inflight window while there is room; wake room waiters. */
  pump (): void {
    this.#pumpQueue()
    if (this.overQueued) this.#checkRoom()
    if (this.#roomWaiters !== null && !this.#link.backedUp) this.wakeRoom()
  }

  #pumpQueue (): void {
    const q = this.#queue
    if (q === null || this.#resuming) return
    const now = this.#engine.broker.clock.now()
    const link = this.#link
    while (q.length > 0 && this.inflightSize() < this.window && link.connected) {
      if (link.backedUp) {
        link.whenDrained()
        return
      }
      const e = q.shift()!
      this.#queuedBytes -= e.bytes
      // expired messages are dropped from queues [MQTT-3.3.2-5], unless sent before (a
      // resumed delivery keeps its packet id): onward delivery has started
      if (e.id === 0 && e.msg.expired(now)) {
        this.settle(e)
        this.#engine.broker.stats.publishDropped++
        this.#engine.counters.drops.expired++
        continue
      }
      this.send(e)
      if (this.overQueued) this.#fullSince = now
    }
  }

  /** Back within the bound (count and bytes): the acks waiting for room go out. */
  #checkRoom (): void {
    const q = this.#queue
    const limits = this.#engine.broker.limits
    if (q !== null && (q.length > limits.maxQueuedMessages || this.#queuedBytes > limits.maxQueuedBytes)) {
      // still beyond it: the messages that are within it again are acknowledged
      if (this.#rooms !== null && this.#queuedBytes <= limits.maxQueuedBytes) this.#rooms.release(q.length, this.#enq, limits.maxQueuedMessages)
      return
    }
    this.overQueued = false
    this.#fullSince = 0
    this.#releaseRoom()
  }

  // ───────── sending ─────────

  #nextId (): number {
    const inflight = (this.#inflight ??= new Map())
    const held = this.#heldIds
    for (;;) {
      this.#lastId = this.#lastId === 65535 ? 1 : this.#lastId + 1
      if (!inflight.has(this.#lastId) && (held === null || !held.has(this.#lastId))) return this.#lastId
    }
  }

  /**
   * queued → sent(id): send a QoS 1/2 entry (assigning a packet id unless it has one) and
   * track it inflight.
   *
   * A QoS 2 entry of a persistent session that has (or is getting) a store record goes out
   * only once that record carries its packet id (state WAITING until then): a crash then
   * never finds a delivery the client holds under an id the store does not know (the next
   * run would send it again under a new id, a second delivery, and could give that id to
   * another message, which the client would take for the one it holds: a loss). The writes
   * of one tick go together (flushHeld). QoS 1 needs no such wait (a duplicate is allowed,
   * and a client holds no state for a QoS 1 id); it only keeps its turn behind a held QoS 2 entry.
   */
  send (e: OutEntry): void {
    if (e.id === 0) e.id = this.#nextId()
    else if (this.#heldIds !== null) this.#heldIds.delete(e.id) // inflight from now on
    if (e.qos === 2 && e.storedId !== e.id && e.group === null && (e.seq >= 0 || e.storing || this.#engine.broker.persistInflight) &&
      this.session.persistent) {
      e.state = WAITING
      ;(this.#inflight ??= new Map()).set(e.id, e)
      this.#wait(e)
      return
    }
    if (this.#waitOut !== null) {
      // behind a held one: in turn, so deliveries keep their order
      e.state = WAITING
      ;(this.#inflight ??= new Map()).set(e.id, e)
      e.ready = true
      this.#waitOut.push(e)
      return
    }
    this.#transmit(e)
  }

  /** Hold `e`'s packet until its state write landed; packets go in the order held. */
  #wait (e: OutEntry): void {
    e.ready = false
    ;(this.#waitOut ??= []).push(e)
    this.#hold(e)
  }

  /** Issue `e`'s state write with the others of this tick. */
  #hold (e: OutEntry): void {
    if (e.held) return
    e.held = true
    if (this.#heldOut === null) {
      this.#heldOut = []
      process.nextTick(flushHeld, this)
    }
    this.#heldOut.push(e)
  }

  /**
   * Once per tick: write the packet ids (and PUBREL states) of the held entries, together,
   * then send their packets. An entry whose record is still being written waits for that
   * write (stored); one with no record yet (retained on SUBSCRIBE) gets one, with its id.
   */
  flushHeld (): void {
    const list = this.#heldOut!
    this.#heldOut = null
    const s = this.session
    const store = this.#engine.broker.store
    let batch: OutEntry[] | null = null
    let writes: Array<Promise<void>> | null = null
    for (const e of list) {
      e.held = false
      if (this.#link.isClosed || this.#inflight?.get(e.id) !== e) continue
      if (e.storing) continue // its write is in flight: stored() takes it from there
      const rel = e.state === PUBREL
      if (e.seq >= 0 && (rel || e.storedId !== e.id)) {
        e.storedId = e.id
        ;(writes ??= []).push(store.updateOutgoing(s.clientId, e.seq, { messageId: e.id, state: rel ? 'pubrel' : 'sent' }))
        ;(batch ??= []).push(e)
      } else if (e.seq < 0) {
        // no record at all (a retained message on SUBSCRIBE): written now, with its id
        e.storing = true
        e.storedId = e.id
        const p = store.enqueue(s.clientId, e.msg.stored(e.qos, e.retain), e.ids ?? undefined, { messageId: e.id, state: 'sent' })
        const gen = s.track(p)
        p.then((r) => { this.#stored(e, r.seq, gen) }, (err: unknown) => {
          e.storing = false
          this.#engine.broker.storeError('storing a delivery', err)
          this.#storeFailed(e)
        })
      } else {
        e.ready = true
      }
    }
    if (batch !== null) {
      const done = batch
      s.track(Promise.all(writes!).then(() => { this.#readyAll(done) }, (err: unknown) => {
        // not durable: sent anyway, as before this write existed (the store error is reported)
        this.#engine.broker.storeError('recording sent packet ids', err)
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
    const w = this.#waitOut
    if (w === null) return
    let i = 0
    for (; i < w.length; i++) {
      const e = w[i]!
      // no longer current (acknowledged, dropped, or the connection closed): skipped
      if (this.#link.isClosed || this.#inflight?.get(e.id) !== e || (e.state !== WAITING && e.state !== PUBREL)) continue
      if (!e.ready) break
      e.ready = false
      if (e.state === WAITING) this.#transmit(e)
      else this.#link.writePacket({ cmd: 'pubrel', messageId: e.id })
    }
    if (i === w.length) this.#waitOut = null
    else if (i > 0) w.splice(0, i)
  }

  #transmit (e: OutEntry): void {
    e.state = SENT
    if (!this.#link.sendPublish(e.msg, e.qos, e.retain, e.dup, e.id, e.ids)) {
      // too large for this client: not sent [MQTT-3.1.2-25], done
      if (this.#inflight?.get(e.id) === e) this.#inflight.delete(e.id) // held until now
      this.settle(e)
      return
    }
    ;(this.#inflight ??= new Map()).set(e.id, e)
    if (e.seq >= 0 && e.storedId !== e.id) this.#markStored(e, 'sent')
  }

  // ───────── acknowledgements ─────────

  /** PUBACK from the client: sent → done. */
  onPuback (id: number): void {
    const e = this.#inflight?.get(id)
    if (e === undefined || e.qos !== 1 || e.state === WAITING) return
    this.#inflight!.delete(id)
    this.settle(e)
    this.pump()
  }

  /** PUBREC from the client: sent → pubrel (or done with a failure code). */
  onPubrec (id: number, reasonCode: number): void {
    const e = this.#inflight?.get(id)
    if (e !== undefined && e.state === WAITING) return // its PUBLISH has not gone: not for it
    if (e === undefined || e.qos !== 2) {
      // [MQTT-4.3.3-?] answer an unknown id with PUBREL 0x92 (5.0) so the client can clean up
      this.#link.writePacket(this.#link.protocolVersion === 5 ? { cmd: 'pubrel', messageId: id, reasonCode: 0x92 } : { cmd: 'pubrel', messageId: id })
      return
    }
    if (reasonCode >= 0x80) {
      this.#inflight!.delete(id)
      this.settle(e)
      this.pump()
      return
    }
    if (e.state === PUBREL && this.#waitOut !== null && this.#waitOut.includes(e)) return // a repeated PUBREC: its PUBREL is on the way
    e.state = PUBREL
    if (e.seq >= 0 && this.session.persistent) {
      // the PUBREL goes once the record says so: after a crash before that, the next run
      // would send the PUBLISH again, which a client that already released the id delivers twice
      this.#wait(e)
      return
    }
    if (e.seq >= 0) this.#markStored(e, 'pubrel')
    this.#link.writePacket({ cmd: 'pubrel', messageId: id })
  }

  /** PUBCOMP from the client: pubrel → done. */
  onPubcomp (id: number): void {
    const e = this.#inflight?.get(id)
    if (e === undefined || e.state !== PUBREL) return
    this.#inflight!.delete(id)
    this.settle(e)
    this.pump()
  }

  // ───────── store records ─────────

  /** → done: a stored entry is acknowledged or dropped, its record goes. Others: nothing. */
  settle (e: OutEntry): void {
    if (e.storing) {
      e.settled = true
      return
    }
    if (e.seq < 0) return
    const seq = e.seq
    e.seq = -1
    this.#chainStore(this.#engine.broker.store.removeOutgoing(this.session.clientId, seq), 'removing a delivered message')
  }

  /** Keep a stored entry's record in step with the flow (packet id, PUBREL state). */
  #markStored (e: OutEntry, state: 'sent' | 'pubrel', gen?: number): void {
    e.storedId = e.id
    this.#chainStore(this.#engine.broker.store.updateOutgoing(this.session.clientId, e.seq, { messageId: e.id, state }), 'updating a sent message', gen)
  }

  /** A reconnect of this session reads the store only after these writes settled. */
  #chainStore (p: Promise<unknown>, what: string, gen?: number): void {
    this.session.track(p.catch((err: unknown) => { this.#engine.broker.storeError(what, err) }), gen)
  }

  /**
   * The store wrote `e` as `seq`: bring the record in step, or remove it. `gen` is the
   * write's generation (Session.track): the follow-up counts in it, so a reconnect that
   * waits for the write also waits for the update it issued.
   */
  #stored (e: OutEntry, seq: number, gen: number): void {
    e.storing = false
    if (e.settled) {
      this.#chainStore(this.#engine.broker.store.removeOutgoing(this.session.clientId, seq), 'removing a delivered message', gen)
      return
    }
    e.seq = seq
    // the record carries the state the entry had when written (storedId): bring it up to date
    if (e.state === PUBREL) this.#markStored(e, 'pubrel', gen)
    else if (e.state === SENT && e.storedId !== e.id) this.#markStored(e, 'sent', gen)
    else if (e.state === WAITING) {
      // written with its packet id: the PUBLISH may go; else the id is written first
      if (e.storedId === e.id) this.#ready(e)
      else this.#hold(e)
    }
  }

  /** The store write of `e` failed (reported by the caller): a held PUBLISH goes anyway, as without a store. */
  #storeFailed (e: OutEntry): void {
    if (e.state === WAITING) this.#ready(e)
  }

  // ───────── resume ─────────

  /**
   * A resume starts reading the store: new deliveries queue behind what it will replay, and
   * the records written meanwhile are noted (they are this log's own entries, see replay).
   */
  startResume (): ResumeWrites {
    this.#resuming = true
    return (this.#live = { writes: [], seqs: [] })
  }

  /** Writes issued after the store read returned are not in it: stop noting them. */
  stopNoting (): void {
    this.#live = null
  }

  /**
   * Replay the session's stored records (oldest first), skipping `own` seqs: unacknowledged
   * PUBLISHes again with DUP and their packet ids within the Receive Maximum, PUBRELs again,
   * the rest queued in order. `readable` decides what the resuming identity may read now
   * (null: the record is removed).
   */
  replay (records: OutgoingRecord[], own: Set<number> | null, readable: (m: StoredMessage) => StoredMessage | null, from: (m: StoredMessage) => Routed): void {
    const queued: OutEntry[] = []
    const clientId = this.session.clientId
    for (const r of records) {
      if (own !== null && own.has(r.seq)) continue
      let msg = r.message
      if (r.state !== 'pubrel') {
        // decided again for the identity resuming the session (rights may have changed)
        const fm = readable(msg)
        if (fm === null) {
          this.#chainStore(this.#engine.broker.store.removeOutgoing(clientId, r.seq), 'removing a message the client may not read')
          continue
        }
        msg = fm
      }
      const e = new OutEntry(from(msg), r.message.qos, r.message.retain, r.subscriptionIds ?? null, null)
      // the record stays in the store until the client acknowledges the delivery
      e.seq = r.seq
      e.storedId = r.messageId ?? 0
      if (r.state === 'queued' || r.messageId === undefined) {
        queued.push(e)
      } else if (r.state === 'pubrel') {
        e.id = r.messageId
        e.state = PUBREL
        ;(this.#inflight ??= new Map()).set(e.id, e)
        this.#link.writePacket({ cmd: 'pubrel', messageId: e.id })
      } else {
        // unacknowledged: resent with DUP and the same packet id [MQTT-4.4.0-1] [MQTT-3.3.1-1],
        // within the new connection's Receive Maximum [MQTT-3.3.4-9]; the rest wait in the
        // queue, in order, keeping their ids
        e.id = r.messageId
        e.dup = true
        if (queued.length === 0 && this.inflightSize() < this.window) {
          this.send(e)
        } else {
          queued.push(e)
          ;(this.#heldIds ??= new Set()).add(e.id)
        }
      }
    }
    if (queued.length > 0) {
      if (this.#queue === null) this.#queue = new Fifo(queued)
      else this.#queue.prepend(queued)
    }
  }

  /** The resume is over (done or given up): the queue opens. */
  endResume (): void {
    this.#live = null
    this.#resuming = false
    this.pump()
  }

  // ───────── end ─────────

  /**
   * The connection closed: hand back the entries still pending, in order: inflight (as
   * sent), then queued.
   */
  detach (): OutEntry[] {
    const out: OutEntry[] = []
    if (this.#inflight !== null) for (const e of this.#inflight.values()) out.push(e)
    if (this.#queue !== null) for (const e of this.#queue) out.push(e)
    this.#inflight = null
    this.#queue = null
    this.#queuedBytes = 0
    return out
  }

  /**
   * After detach: the publishers waiting for room are owed nothing more by this log: a clean
   * session ended with it, a persistent one handed its queue to the store (wait for that).
   */
  releaseWaiters (): void {
    if (this.#rooms === null || this.#rooms.size === 0) return
    const s = this.session
    const writes = s.persistent ? s.settled() : null
    if (writes === null) this.#releaseRoom()
    else writes.then(() => { this.#releaseRoom() }, () => { this.#releaseRoom() })
  }

  /**
   * The store writes that keep `entries` (handed back by detach) for the offline session,
   * issued in order so the store assigns increasing seqs: inflight first, then queued.
   */
  static offlineWrites (s: Session, entries: OutEntry[], store: Store, work: Array<Promise<unknown>>): void {
    for (const e of entries) {
      // replayed from the store and not yet acknowledged: its record is still there, in step;
      // or being written (persistInflight): the write in flight stores it, then its state
      if (e.seq >= 0 || e.storing) continue
      work.push(store.enqueue(s.clientId, e.msg.stored(e.qos, e.retain), e.ids ?? undefined, e.update()))
    }
  }
}
