/**
 * `Ownership`: which node of a cluster holds each client id's session, and moving a session
 * between nodes. Active only on a clustered broker whose store has `claimSession` and
 * `sessionOwner` and whose bus has `sendTo`; otherwise every method is a no-op and the
 * engine behaves as before (each node its own sessions, takeover by a broadcast).
 *
 * Invariants:
 * - Every CONNECT claims the client id in the store (one atomic write: the epoch goes up by
 *   one, the previous owner comes back) before its CONNACK. The highest epoch is the owner:
 *   of connections racing on any nodes, the newest claim survives, every other one is closed
 *   (5.0: DISCONNECT 0x8E when it had its CONNACK, else the socket is closed).
 * - Fencing: a node learns that a newer claim exists from the new owner's `release` (durable,
 *   addressed to the previous owner, who passes it on along the chain of claims) or a
 *   `takeover` broadcast (with the epoch); from then on the older connection is closed and
 *   the node stops holding the session: it issues no more store writes for it (writes already
 *   issued may still land).
 * - Handoff: the new owner loads the session's subscriptions from the store and routes them
 *   (so publishes reach it from then on, queued into the store while its connection is not
 *   attached yet), then asks the previous owner to `release`; that node closes its connection,
 *   writes what only it holds (in-flight and queued entries of the delivery log, the offline
 *   path), cancels its delayed will, drops the session from its map and router (so it queues
 *   nothing more), and answers `released`. The new owner then reads the store (subscriptions
 *   again, queue, in-flight, incoming QoS 2 ids) and resumes. A previous owner that is not
 *   alive is not waited for; one alive that does not answer within {@link HANDOFF_TIMEOUT_MS}
 *   gets the connection refused with 0x88 (the session stays claimed and loaded here); one
 *   that dies while it is waited for (alive nodes checked every 250 ms) is waited for no more.
 * - A clean start discards the session cluster-wide: the previous owner ends it (its store
 *   state deleted) before this node deletes what is left and starts a new one.
 * - Exactly one node queues for an offline session: its owner. At start a node loads only
 *   the sessions it owns; publishes from other nodes are queued by the owner.
 * - Adoption: the node that wins the claim on a dead node claims every session the dead node
 *   owned, loads it as offline (expiring), queues for it what the dead node's inbox held, and
 *   only then does the bus stop routing to the dead node (until then publishes wait in its
 *   inbox). A dead node that restarts loads only the sessions it still owns.
 */
import type { BusMessage } from './bus.ts'
import type { Connection } from './connection.ts'
import type { Engine } from './engine.ts'
import { refuse } from './handlers/connect.ts'
import { Routed } from './routed.ts'
import { OfflineClient, Session } from './session.ts'
import type { SessionRecord, Store } from './store.ts'

/** How long a node waits for the previous owner's `released`, ms. */
const HANDOFF_TIMEOUT_MS = 5000
/** While waiting for `released`: how often to check that the previous owner is still alive, ms. */
const ALIVE_POLL_MS = 250
/** Owners read at once at start. */
const OWNER_BATCH = 256

interface Waiter {
  epoch: number
  done: (ok: boolean) => void
}

/** The ownership of sessions of one broker node in a cluster. */
export class Ownership {
  readonly #engine: Engine
  readonly enabled: boolean
  /** This node's current claim per client id (the connection that made it, while connecting or connected). */
  readonly #claims = new Map<string, { epoch: number, conn: Connection | null }>()
  /**
   * The highest epoch another node announced per client id while a claim of ours was on its
   * way (kept only then: one entry per claim in progress): a claim of ours below it lost.
   */
  readonly #fence = new Map<string, number>()
  /** Claims of this node on their way to the store, per client id. */
  readonly #claiming = new Map<string, number>()
  /** Handoffs waiting for the previous owner's `released`. */
  readonly #waiting = new Map<string, Waiter>()
  /** How long to wait for `released`, ms. */
  handoffTimeout = HANDOFF_TIMEOUT_MS

  constructor (engine: Engine) {
    this.#engine = engine
    const { store, bus } = engine.broker
    this.enabled = engine.clustered && store.claimSession !== undefined && store.sessionOwner !== undefined && bus.sendTo !== undefined
  }

  get #store (): Store {
    return this.#engine.broker.store
  }

  get #me (): string {
    return this.#engine.broker.id
  }

  /**
   * At start: the records of `all` this node owns (every one without ownership), their
   * owners read {@link OWNER_BATCH} at a time (one pipelined round trip on Redis instead of
   * one each: 5,000 sessions, half of them owned, took 2.1–4.6 s to restore one by one and
   * 0.1–0.9 s so, on a loaded 2-core machine). Records our claims.
   */
  async * owned (all: AsyncIterable<SessionRecord>): AsyncIterable<SessionRecord> {
    if (!this.enabled) {
      yield * all
      return
    }
    let batch: SessionRecord[] = []
    for await (const rec of all) {
      batch.push(rec)
      if (batch.length < OWNER_BATCH) continue
      yield * await this.#mine(batch)
      batch = []
    }
    if (batch.length > 0) yield * await this.#mine(batch)
  }

  async #mine (batch: SessionRecord[]): Promise<SessionRecord[]> {
    const owners = await Promise.all(batch.map(async (rec) => await this.#store.sessionOwner!(rec.clientId)))
    const out: SessionRecord[] = []
    for (let i = 0; i < batch.length; i++) {
      const o = owners[i]!
      if (o === null || o.nodeId !== this.#me) continue
      this.#claims.set(batch[i]!.clientId, { epoch: o.epoch, conn: null })
      out.push(batch[i]!)
    }
    return out
  }

  /**
   * `c` (CONNECT with `clean`) claims its client id and, from another node, takes the session
   * over. Resolves false when `c` lost or was refused (it is closed then).
   */
  async claim (c: Connection, clean: boolean): Promise<boolean> {
    const engine = this.#engine
    const id = c.id
    let claim: { epoch: number, previous: string | null }
    this.#claiming.set(id, (this.#claiming.get(id) ?? 0) + 1)
    let fence: number
    try {
      claim = await this.#store.claimSession!(id, this.#me)
    } catch (err) {
      engine.storeError('claiming a session', err)
      if (!c.isClosed) refuse(c, 0x88, `claiming the session of ${JSON.stringify(id)} failed`)
      return false
    } finally {
      fence = this.#fence.get(id) ?? 0
      const n = this.#claiming.get(id)! - 1
      if (n === 0) {
        this.#claiming.delete(id)
        this.#fence.delete(id)
      } else {
        this.#claiming.set(id, n)
      }
    }
    const { epoch, previous } = claim
    if (fence > epoch) {
      this.#lost(c, 'a newer connection with this client id claimed it')
      return false
    }
    if (c.isClosed) return false
    const mine = this.#claims.get(id)
    // a connection of this node with an older claim is closed by the session manager (local takeover)
    this.#claims.set(id, { epoch, conn: c })
    if (mine !== undefined && mine.epoch > epoch) return false // cannot happen: claims only go up
    // every node with a connection of an older claim closes it (at most once: the release below is the durable path)
    engine.broker.bus.send({ type: 'takeover', nodeId: this.#me, clientId: id, epoch })
      .catch((err: unknown) => { engine.storeError('sending a takeover to the bus', err) })
    const sessions = engine.sessions
    if (!clean && previous !== this.#me) {
      // routes first: publishes from now on reach this node (queued in the store until the
      // connection is attached), before the previous owner stops queueing for the session
      if (!(await this.#loadFor(c, id))) return false
    }
    if (previous !== null && previous !== this.#me) {
      let alive: string[]
      try {
        alive = await engine.broker.bus.aliveNodes()
      } catch (err) {
        engine.storeError('reading the alive nodes', err)
        alive = [previous] // unknown: ask, and wait
      }
      if (c.isClosed) return false
      if (alive.includes(previous)) {
        const ok = await this.#handoff(previous, id, epoch, clean)
        if (c.isClosed) return false
        if (!ok) {
          refuse(c, 0x88, `node ${previous} did not release the session of ${JSON.stringify(id)} within ${this.handoffTimeout} ms`)
          return false
        }
      }
      if (!clean) {
        // what the previous owner held until its release is in the store now
        if (!(await this.#loadFor(c, id))) return false
      }
    }
    if (clean && sessions.get(id) === undefined) {
      // what another node (alive or not) left in the store goes too [MQTT-3.1.2-4]
      try {
        await this.#store.deleteSession(id)
      } catch (err) {
        engine.storeError('discarding a session', err)
      }
      if (c.isClosed) return false
    }
    return true
  }

  /** Load (and route) the stored session `id` for `c`; false when `c` closed or was refused (0x88). */
  async #loadFor (c: Connection, id: string): Promise<boolean> {
    try {
      await this.#load(id)
    } catch (err) {
      this.#engine.storeError('loading a session', err)
      if (!c.isClosed) refuse(c, 0x88, `loading the session of ${JSON.stringify(id)} failed`)
      return false
    }
    return !c.isClosed
  }

  #lost (c: Connection, why: string): void {
    c.error('BROKER_ERR_SESSION_TAKEN_OVER', why)
    c.disconnect(0x8E, 'session taken over')
  }

  /** Send `release` to `node` and wait for its `released` (false: no answer in time). */
  async #handoff (node: string, clientId: string, epoch: number, discard: boolean): Promise<boolean> {
    const engine = this.#engine
    const clock = engine.broker.clock
    const answered = new Promise<boolean>((resolve) => {
      const timer = clock.setTimeout(() => { finish(false) }, this.handoffTimeout)
      // a node that dies meanwhile (killed just before) will not answer: go on without it
      const poll = clock.setInterval(() => {
        engine.broker.bus.aliveNodes().then((alive) => { if (!alive.includes(node)) finish(true) }, () => {})
      }, ALIVE_POLL_MS)
      let done = false
      const finish = (ok: boolean): void => {
        if (done) return
        done = true
        clock.clearTimeout(timer)
        clock.clearInterval(poll)
        if (this.#waiting.get(clientId) === waiter) this.#waiting.delete(clientId)
        resolve(ok)
      }
      const waiter: Waiter = { epoch, done: finish }
      this.#waiting.get(clientId)?.done(false)
      this.#waiting.set(clientId, waiter)
    })
    try {
      await engine.broker.bus.sendTo!(node, { type: 'release', nodeId: this.#me, clientId, epoch, discard })
    } catch (err) {
      engine.storeError('sending a release to the bus', err)
      this.#waiting.get(clientId)?.done(false)
    }
    return await answered
  }

  /**
   * Load (or refresh) `clientId`'s session from the store into this node: subscriptions
   * routed, marked restored (its incoming QoS 2 ids are read from the store). Nothing when
   * the store has none.
   */
  async #load (clientId: string): Promise<void> {
    const rec = await this.#store.getSession(clientId)
    if (rec !== null) this.#apply(rec)
  }

  /** {@link #load} once the record is read. */
  #apply (rec: SessionRecord): void {
    const engine = this.#engine
    const clientId = rec.clientId
    const sessions = engine.sessions
    let s = sessions.get(clientId)
    if (s === undefined) {
      s = new Session(rec.clientId, rec.protocolVersion, rec.expiryInterval)
      s.offline = new OfflineClient(rec.clientId, rec.protocolVersion, rec.username)
      sessions.map.set(clientId, s)
    } else if (s.conn !== null) {
      return // connected here: this node's view is the current one
    }
    s.restored = true
    // offline until a connection attaches (which stops the timer): it expires as stored
    if (rec.expiresAt !== undefined) sessions.expireAt(s, rec.expiresAt)
    s.owner = rec.username
    s.protocolVersion = rec.protocolVersion
    s.expiryInterval = rec.expiryInterval
    const router = engine.router
    const keep = new Set<string>()
    for (const sub of rec.subscriptions) {
      keep.add(sub.topic)
      const had = s.subs.get(sub.topic)
      if (had !== undefined && had.qos === sub.qos && had.nl === sub.nl && had.rap === sub.rap && had.rh === sub.rh && had.subId === (sub.subscriptionId ?? 0)) continue
      router.add(s, sub.topic, sub.qos, sub.nl, sub.rap, sub.rh, sub.subscriptionId ?? 0)
    }
    for (const topic of [...s.subs.keys()]) if (!keep.has(topic)) router.remove(s, topic)
  }

  /**
   * Dead node `dead` was claimed by this node (Engine.nodeDead): take over the sessions its
   * owner records name. Each is claimed (epoch + 1), loaded and routed as an offline session
   * here, and expires from now when the dead node had it connected (the dead node's clean
   * sessions, expiry 0, are ended); then the bus hands over what the dead node's inbox held,
   * queued for the adopted sessions only, and stops routing to the dead node. Null when
   * ownership is off.
   */
  async adopt (dead: string): Promise<{ sessions: number, messages: number } | null> {
    if (!this.enabled) return null
    const engine = this.#engine
    const store = this.#store
    const claimed: SessionRecord[] = []
    let batch: SessionRecord[] = []
    const take = async (): Promise<void> => {
      const owners = await Promise.all(batch.map(async (rec) => await store.sessionOwner!(rec.clientId)))
      for (let i = 0; i < batch.length; i++) {
        const id = batch[i]!.clientId
        if (owners[i]?.nodeId !== dead || engine.closed) continue
        const { epoch, previous } = await store.claimSession!(id, this.#me)
        if (previous !== dead) {
          // a client reconnected on `previous` meanwhile: its claim stands (given back, newer)
          if (previous !== null && previous !== this.#me) await store.claimSession!(id, previous)
          continue
        }
        const rec = await store.getSession(id) // as the dead node left it
        if (rec === null) continue
        if (rec.expiryInterval === 0) {
          await store.deleteSession(id) // it ended with its connection on the dead node
          continue
        }
        if (rec.expiresAt === undefined && rec.expiryInterval !== 0xFFFFFFFF) {
          // connected on the dead node until it died: offline from now
          rec.expiresAt = engine.broker.clock.now() + rec.expiryInterval * 1000
          await store.setSessionExpiry(id, rec.expiresAt)
        }
        if (!this.#claims.has(id)) this.#claims.set(id, { epoch, conn: null })
        claimed.push(rec)
      }
      batch = []
    }
    for await (const rec of store.sessions()) {
      batch.push(rec)
      if (batch.length >= OWNER_BATCH) await take()
    }
    if (batch.length > 0) await take()
    if (engine.closed) return { sessions: 0, messages: 0 }
    // routed in one tick, so that the bus announces them at once, just before it drops the
    // dead node's routes (publishes go to one of the two inboxes, not both)
    const adopted = new Set<Session>()
    const sessions = engine.sessions
    const bus = engine.broker.bus
    let release = (): void => {}
    const held = new Promise<void>((resolve) => { release = resolve })
    for (const rec of claimed) {
      this.#apply(rec)
      const s = sessions.get(rec.clientId)
      if (s === undefined || s.conn !== null) continue
      adopted.add(s)
      // what reaches it from now on is newer than what the dead node's inbox holds
      if (bus.adopt !== undefined) s.held = held
    }
    if (bus.adopt === undefined) return { sessions: adopted.size, messages: 0 }
    const router = engine.router
    try {
      const messages = await bus.adopt(dead, (msg) => {
        if (msg.type !== 'publish' || engine.closed) return
        // only the adopted sessions: this node's own had theirs delivered already
        router.only = adopted
        sessions.draining = true
        let stored: Promise<unknown> | null
        try {
          stored = router.route(Routed.from(msg.message), true)
        } finally {
          router.only = null
          sessions.draining = false
        }
        return stored?.catch((err: unknown) => { engine.storeError('storing a dead node\'s message', err) })
      })
      return { sessions: adopted.size, messages }
    } finally {
      for (const s of adopted) if (s.held === held) s.held = null
      release()
    }
  }

  /** `c` closed: our claim no longer refers to it (nor exists, when the session ends with it). */
  closed (c: Connection): void {
    const mine = this.#claims.get(c.id)
    if (mine === undefined || mine.conn !== c) return
    if (c.expiry === 0) this.#claims.delete(c.id)
    else mine.conn = null
  }

  /** The session of `clientId` ended here (expired): nothing to remember. */
  forget (clientId: string): void {
    this.#claims.delete(clientId)
  }

  /** Bus messages of the ownership protocol; false for any other message. */
  onMessage (msg: BusMessage): boolean {
    if (!this.enabled) return false
    if (msg.type === 'release') {
      this.#release(msg.nodeId, msg.clientId, msg.epoch, msg.discard).catch((err: unknown) => {
        this.#engine.storeError('releasing a session', err)
      })
      return true
    }
    if (msg.type === 'released') {
      const w = this.#waiting.get(msg.clientId)
      if (w !== undefined && w.epoch === msg.epoch) w.done(true)
      return true
    }
    if (msg.type === 'takeover' && msg.epoch !== undefined) {
      this.#superseded(msg.clientId, msg.epoch)
      return true
    }
    return false
  }

  /**
   * Another node claimed `clientId` with `epoch`: a connection of ours with an older claim is
   * closed. Returns whether our claim is older (or absent).
   */
  #superseded (clientId: string, epoch: number): boolean {
    const mine = this.#claims.get(clientId)
    if (mine !== undefined && mine.epoch > epoch) return false
    if (this.#claiming.has(clientId) && (this.#fence.get(clientId) ?? 0) < epoch) this.#fence.set(clientId, epoch)
    const c = mine?.conn ?? this.#engine.sessions.connectionOf(clientId)
    if (c !== undefined && c !== null && !c.isClosed) this.#lost(c, `client id claimed on another node (epoch ${epoch})`)
    return true
  }

  /** The previous owner's side of a handoff (see the module header). */
  async #release (from: string, clientId: string, epoch: number, discard: boolean): Promise<void> {
    const engine = this.#engine
    const sessions = engine.sessions
    const s = sessions.get(clientId)
    if (this.#superseded(clientId, epoch)) {
      this.#claims.delete(clientId)
      // the connection is closed now: its in-flight and queued entries are being written (offline path)
      if (s !== undefined && s.conn === null) {
        const hadWill = s.will !== null
        engine.wills.cancel(s) // the client reconnected elsewhere before its will delay [MQTT-3.1.3-9]
        if (sessions.get(clientId) !== s) {
          // it ended with its connection (expiry 0): wait for that
          const writes = s.settled()
          if (writes !== null) await writes
        } else if (discard) {
          await sessions.end(s) // a clean start elsewhere [MQTT-3.1.2-4]
        } else {
          const writes = s.settled()
          if (writes !== null) await writes
          if (sessions.get(clientId) === s) sessions.drop(s)
        }
        if (hadWill) {
          const w = await this.#store.getWill(clientId)
          if (w !== null && w.nodeId === this.#me) await this.#store.deleteWill(clientId)
        }
      }
    }
    // stale (our claim is newer: the sender is told by our own release) or done
    await engine.broker.bus.sendTo!(from, { type: 'released', nodeId: this.#me, clientId, epoch })
  }
}
