/**
 * `SessionManager`: the sessions of one broker node by client id, and their lifecycle:
 * restored from the store at start, taken by a CONNECT (takeover of an older connection,
 * clean start, resume with replay of what the store kept), offline between connections
 * (queued into the store), expired, ended.
 *
 * Rules kept here: the expiry of the connection that ends governs the session from then on
 * [MQTT-3.1.2-5]; a stored session stays stored while a connection that asked for expiry 0
 * holds it, so its queue, in-flight messages and incoming QoS 2 ids are resumed
 * [MQTT-4.4.0-1]; a session belongs to the identity (username) that created it.
 */
import type { ConnectPacket } from '@culex/packet'
import type { Clock } from './clock.ts'
import { State, type Connection } from './connection.ts'
import { DeliveryLog, type OutEntry } from './delivery-log.ts'
import type { Engine } from './engine.ts'
import { Routed } from './routed.ts'
import { OfflineClient, Session } from './session.ts'
import type { StoredMessage } from './store.ts'

/** A timer runs at most this long (~24.8 days): a longer expiry re-arms. */
const TIMER_MAX = 2 ** 31 - 1

/** The sessions of one broker node. */
export class SessionManager {
  readonly #engine: Engine
  /** Sessions by client id. */
  readonly map = new Map<string, Session>()

  constructor (engine: Engine) {
    this.#engine = engine
  }

  get #clock (): Clock {
    return this.#engine.broker.clock
  }

  /** Load the sessions stored by an earlier run. */
  async restore (): Promise<void> {
    const engine = this.#engine
    // in a cluster, only the sessions this node owns (their owner alone queues for them)
    for await (const rec of engine.ownership.owned(engine.broker.store.sessions())) {
      if (this.map.has(rec.clientId)) continue
      const s = new Session(rec.clientId, rec.protocolVersion, rec.expiryInterval)
      s.restored = true
      s.owner = rec.username
      s.offline = new OfflineClient(rec.clientId, rec.protocolVersion, rec.username)
      this.map.set(rec.clientId, s)
      for (const sub of rec.subscriptions) engine.router.add(s, sub.topic, sub.qos, sub.nl, sub.rap, sub.rh, sub.subscriptionId ?? 0)
      if (rec.expiresAt !== undefined) this.#armExpiry(s, rec.expiresAt)
    }
  }

  get (clientId: string): Session | undefined {
    return this.map.get(clientId)
  }

  /** The connection attached to a session (one lookup: no separate client map). */
  connectionOf (clientId: string): Connection | undefined {
    return this.map.get(clientId)?.conn ?? undefined
  }

  /**
   * `c` (authenticated, its CONNECT `p`) takes its session: an older connection with the
   * client id is closed [MQTT-3.1.4-3], clean start (or another owner) ends the old session
   * [MQTT-3.1.2-4], else the old one is resumed. `expiry` is what this connection grants; it
   * applies once the connection ends. Returns the session (not attached yet) and whether it
   * was present [MQTT-3.2.2-2]; null when `c` closed meanwhile.
   */
  async take (c: Connection, p: ConnectPacket, expiry: number): Promise<{ s: Session, present: boolean } | null> {
    const engine = this.#engine
    // in a cluster: claimed in the store, taken over from its previous owner (ownership.ts)
    if (engine.ownership.enabled) {
      if (!(await engine.ownership.claim(c, p.clean))) return null
    } else {
      engine.announceConnect(c.id)
    }
    // session takeover: the older connection is closed [MQTT-3.1.4-3], 5.0 gets 0x8E
    const old = this.connectionOf(c.id)
    if (old !== undefined && old !== c) {
      old.error('BROKER_ERR_SESSION_TAKEN_OVER', 'another connection took the client id over')
      old.disconnect(0x8E, 'session taken over')
    }
    let s = this.map.get(c.id)
    let present = false
    // a session belongs to the identity that created it: a connection with another username
    // does not inherit it (its subscriptions, queue, in-flight messages); the old session ends
    if (s !== undefined && (p.clean || s.owner !== c.username)) {
      // clean session / clean start discards the old session [MQTT-3.1.2-4]
      engine.wills.cancel(s)
      await this.end(s)
      s = undefined
    }
    if (c.isClosed) return null
    if (s !== undefined) {
      present = true // [MQTT-3.2.2-2]
      engine.wills.cancel(s) // a reconnect before the will delay cancels the will [MQTT-3.1.3-9]
      if (s.expiryTimer !== null) this.#clock.clearTimeout(s.expiryTimer)
      s.expiryTimer = null
      s.protocolVersion = p.protocolVersion
      // the new expiry applies once this connection ends (connectionClosed) [MQTT-3.1.2-5]:
      // a stored session stays stored meanwhile, so its queue, in-flight messages and incoming
      // QoS 2 ids are resumed even when this connection asked for 0 [MQTT-4.4.0-1]
      if (expiry !== 0 || !s.persistent) s.expiryInterval = expiry
    } else {
      s = new Session(c.id, p.protocolVersion, expiry)
      s.owner = c.username
      this.map.set(c.id, s)
    }
    // read decisions are made anew for this connection's identity
    s.readCache = null
    s.identGen++
    s.offline = null
    return { s, present }
  }

  /** End a session: subscriptions leave the trie, the store forgets it. */
  async end (s: Session): Promise<void> {
    const router = this.#engine.router
    for (const topic of [...s.subs.keys()]) router.remove(s, topic)
    if (s.expiryTimer !== null) this.#clock.clearTimeout(s.expiryTimer)
    s.expiryTimer = null
    if (this.map.get(s.clientId) === s) this.map.delete(s.clientId)
    const writes = s.settled()
    if (writes !== null) await writes
    await this.#engine.broker.store.deleteSession(s.clientId)
  }

  /**
   * Stop holding a session without ending it (another node owns it now): subscriptions leave
   * the trie, timers stop; the store keeps it.
   */
  drop (s: Session): void {
    const router = this.#engine.router
    for (const topic of [...s.subs.keys()]) router.remove(s, topic)
    if (s.expiryTimer !== null) this.#clock.clearTimeout(s.expiryTimer)
    s.expiryTimer = null
    if (this.map.get(s.clientId) === s) this.map.delete(s.clientId)
  }

  /** An offline session loaded from the store (another node's) expires at `expiresAt`. */
  expireAt (s: Session, expiresAt: number): void {
    this.#armExpiry(s, expiresAt)
  }

  #armExpiry (s: Session, expiresAt: number): void {
    if (s.expiryTimer !== null) this.#clock.clearTimeout(s.expiryTimer)
    const left = expiresAt - this.#clock.now()
    s.expiryTimer = this.#clock.setTimeout(() => {
      s.expiryTimer = null
      if (s.conn !== null) return
      if (expiresAt - this.#clock.now() > 0) {
        this.#armExpiry(s, expiresAt)
        return
      }
      this.#engine.counters.sessionsExpired++
      this.#expire(s)
    }, Math.max(0, Math.min(left, TIMER_MAX)))
    s.expiryTimer.unref()
  }

  #expire (s: Session): void {
    this.#engine.ownership.forget(s.clientId)
    // the will is published when the session ends, if that comes before its delay [MQTT-3.1.3-9]
    if (s.will !== null) this.#engine.wills.fire(s, null)
    this.end(s).catch((err: unknown) => { this.#engine.broker.storeError('expiring a session', err) })
  }

  /** Called once per connection when it closes. */
  connectionClosed (c: Connection, wasConnected: boolean): void {
    if (!wasConnected) return
    const engine = this.#engine
    engine.ownership.closed(c)
    const s = c.session
    if (s !== null && s.conn === c) {
      s.conn = null
      engine.router.presence(s)
      s.offline = new OfflineClient(c.id, c.protocolVersion === 0 ? 4 : c.protocolVersion, c.username, c.info)
      // the expiry of the connection that ends governs the session from now on [MQTT-3.1.2-5]
      s.expiryInterval = c.expiry
      const entries = c.log === null ? [] : c.log.detach()
      const keep: OutEntry[] = []
      for (const e of entries) {
        // a shared-subscription message the member did not acknowledge goes to another member;
        // QoS 2 only if it never went out: once sent, it completes with the member that got it
        // (its session, or that session's end) [MQTT-4.8.2-4]
        if (e.group !== null && (e.qos === 1 || e.unsent)) {
          const queued = engine.router.deliverShared(e.group, e.msg, s, e)
          if (queued !== null) {
            // taken by an offline member's queue
            queued.catch((err: unknown) => { engine.broker.storeError('redelivering a shared-subscription message', err) })
            continue
          }
          if (engine.router.handedOver(e.group, s)) continue
        }
        keep.push(e)
      }
      if (c.will !== null) engine.wills.onClose(c, s)
      if (s.expiryInterval !== 0) this.#goOffline(s, keep)
      // tracked: a handoff to another node waits for the store delete (ownership.ts)
      else if (!engine.closed) s.track(this.end(s).catch((err: unknown) => { engine.broker.storeError('ending a session', err) }))
    } else if (c.will !== null && s !== null) {
      engine.wills.onClose(c, s)
    }
  }

  #goOffline (s: Session, entries: OutEntry[]): void {
    const store = this.#engine.broker.store
    const work: Array<Promise<unknown>> = []
    DeliveryLog.offlineWrites(s, entries, store, work)
    if (s.expiryInterval !== 0xFFFFFFFF) {
      const at = this.#clock.now() + s.expiryInterval * 1000
      work.push(store.setSessionExpiry(s.clientId, at))
      this.#armExpiry(s, at)
    }
    if (work.length > 0) {
      s.track(Promise.all(work).catch((err: unknown) => { this.#engine.broker.storeError('saving an offline session', err) }))
    }
  }

  /** Set while a dead node's messages are queued for the sessions adopted from it (ownership.ts). */
  draining = false

  /** Queue a message for an offline persistent session (its store queue). */
  enqueueOffline (s: Session, m: StoredMessage, ids: number[] | null): Promise<unknown> {
    const engine = this.#engine
    if (s.held !== null && !this.draining) {
      const later = s.held.then(() => this.enqueueOffline(s, m, ids))
      s.track(later) // a handoff waits for it
      return later
    }
    const p = engine.broker.store.enqueue(s.clientId, m, ids ?? undefined).then((r) => {
      if (r.queued > engine.broker.limits.maxStoredMessages && s.conn === null && this.map.get(s.clientId) === s) this.#overStored(s, r.queued)
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
    this.#engine.broker.stats.sessionsOverflowed++
    this.#engine.broker.logger.warn({ client: s.clientId, queued }, 'offline session ended: stored queue beyond limits.maxStoredMessages')
    this.#expire(s)
  }

  /** Replay what the store kept for a resumed session into `c`'s delivery log, then open its queue. */
  async resume (c: Connection, s: Session): Promise<void> {
    const engine = this.#engine
    const log = c.log!
    const live = log.startResume()
    try {
      const writes = s.settled()
      if (writes !== null) await writes
      const records = await engine.broker.store.outgoing(s.clientId, this.#clock.now())
      // Messages routed to the session meanwhile wait in the log and are written to the
      // store too; a write that landed before the read is in `records` as well. Those
      // records are the log's own entries: skip them, or the message goes out twice
      // (a QoS 2 duplicate under a new packet id). Only writes issued before the read
      // returned can be in it, so waiting for those is enough.
      log.stopNoting()
      let own: Set<number> | null = null
      if (live.writes.length > 0) {
        await Promise.allSettled(live.writes)
        own = new Set(live.seqs)
      }
      if (c.state === State.CLOSED) return
      log.replay(records, own, (m) => engine.router.readable(s, c, m), Routed.from)
    } finally {
      log.endResume()
    }
  }

  /** Wait for every session's store writes; stop their timers (broker closing). */
  closing (chains: Array<Promise<unknown>>): void {
    for (const s of this.map.values()) {
      const writes = s.settled()
      if (writes !== null) chains.push(writes)
      if (s.expiryTimer !== null) this.#clock.clearTimeout(s.expiryTimer)
      if (s.willTimer !== null) this.#clock.clearTimeout(s.willTimer)
    }
  }
}
