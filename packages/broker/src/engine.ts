/**
 * `Engine`: what sits behind the {@link Broker} facade and is not part of the package's API:
 * the router, the session manager, the wills, the connections and their admission, the
 * publish path (retained, bus, route, in-process subscribers, events), and the counters
 * behind `broker.metrics()`. Connections and handlers reach the engine through this object;
 * apps only through the Broker.
 */
import type { BusMessage, DeadNode, SharePick } from './bus.ts'
import type { OutEntry } from './delivery-log.ts'
import type { Broker } from './broker.ts'
import type { ClockTimer } from './clock.ts'
import type { Connection } from './connection.ts'
import { BrokerError } from './errors.ts'
import { LocalSubscribers } from './local-subscribers.ts'
import { Counters } from './metrics.ts'
import { Ownership } from './ownership.ts'
import { Routed } from './routed.ts'
import { Router } from './router.ts'
import { SessionManager } from './session-manager.ts'
import { Wills } from './wills.ts'

/** The engine of one broker node. */
export class Engine {
  readonly broker: Broker
  /** Counters behind {@link Broker.metrics} beyond `stats`. */
  readonly counters = new Counters()
  readonly router: Router
  readonly sessions: SessionManager
  readonly wills: Wills
  /** Which node holds each session (clusters; see ownership.ts). */
  readonly ownership: Ownership
  readonly local: LocalSubscribers
  /** Connected to other nodes through a bus (not a LocalBus). */
  readonly clustered: boolean
  closed = false
  readonly connections = new Set<Connection>()
  readonly #pendingByAddr = new Map<string, number>()
  #pendingCount = 0
  /** The last bus write a QoS 0 publish was sent with (one error handler per batch). */
  #busSent: Promise<void> | null = null
  #sweep: ClockTimer | null = null
  readonly #sweepAll = (): void => {
    if (this.connections.size === 0) {
      this.broker.clock.clearInterval(this.#sweep!)
      this.#sweep = null
      return
    }
    const now = this.broker.clock.now()
    for (const c of this.connections) c.check(now)
  }

  // uncork every stream written in this tick at once
  #corked: Connection[] = []
  readonly #uncorkAll = (): void => {
    const list = this.#corked
    this.#corked = []
    for (let i = 0; i < list.length; i++) list[i]!.uncork()
  }

  constructor (broker: Broker, clustered: boolean) {
    this.broker = broker
    this.clustered = clustered
    this.local = new LocalSubscribers(broker.logger)
    this.router = new Router(this, broker.hooks)
    this.sessions = new SessionManager(this)
    this.wills = new Wills(this)
    this.ownership = new Ownership(this)
    // the owner queues for its offline sessions what other nodes publish (no other node holds them)
    this.router.queueRemote = this.ownership.enabled
    if (clustered) broker.bus.onNodeDead?.((dead) => { this.nodeDead(dead) })
  }

  /**
   * Sessions stored by an earlier run, then the wills it left; then this node receives from
   * the bus (a durable bus keeps what arrived meanwhile, for the sessions restored here).
   */
  async restore (): Promise<void> {
    try {
      await this.sessions.restore()
      await this.wills.restore()
    } catch (err) {
      this.storeError('restoring sessions', err)
    } finally {
      if (this.clustered) this.broker.bus.onMessage((msg) => this.#fromBus(msg))
    }
  }

  storeError (what: string, err: unknown): void {
    this.broker.storeError(what, err)
  }

  // ───────── connections ─────────

  /** Count a new socket (false: refused, too many without CONNECT; `c` is closed). */
  admit (c: Connection): boolean {
    const limits = this.broker.limits
    // sockets without a CONNECT yet are bounded apart from maxConnections, and per address
    const addr = c.info.remoteAddress
    const perAddr = addr === undefined ? 0 : (this.#pendingByAddr.get(addr) ?? 0)
    if (this.#pendingCount >= limits.maxPendingConnections || perAddr >= limits.maxPendingPerAddress) {
      c.error('BROKER_ERR_SERVER_BUSY', `too many sockets without CONNECT (${perAddr >= limits.maxPendingPerAddress ? `maxPendingPerAddress ${limits.maxPendingPerAddress} from ${addr}` : `maxPendingConnections ${limits.maxPendingConnections}`})`)
      c.turnAway()
      c.stream.destroy()
      return false
    }
    this.#pendingCount++
    if (addr !== undefined) this.#pendingByAddr.set(addr, perAddr + 1)
    c.countPending(addr)
    this.connections.add(c)
    return true
  }

  /** Start the sweep timer when the first connection arrives. */
  watch (_c: Connection): void {
    if (this.#sweep !== null) return
    const limits = this.broker.limits
    const ct = limits.connectTimeout
    // 1 s is fine for keepalive (1.5 × seconds); short connect timeouts get a finer sweep
    const st = limits.stallTimeout
    const every = Math.max(50, Math.min(1000, ct > 0 && ct < Infinity ? ct / 2 : 1000, st > 0 ? st / 2 : 1000))
    this.#sweep = this.broker.clock.setInterval(this.#sweepAll, every)
    this.#sweep.unref()
  }

  /** `c` no longer counts as a socket without CONNECT (it sent one, or closed). */
  admitted (c: Connection): void {
    const addr = c.uncountPending()
    if (addr === null) return
    this.#pendingCount--
    if (addr === undefined) return
    const n = this.#pendingByAddr.get(addr)! - 1
    if (n === 0) this.#pendingByAddr.delete(addr)
    else this.#pendingByAddr.set(addr, n)
  }

  /** Sockets that have not sent a CONNECT yet. */
  get pendingCount (): number {
    return this.#pendingCount
  }

  /** Whether a new CONNECT must be refused for maxConnections (sockets without CONNECT do not count). */
  overCapacity (): boolean {
    return this.connections.size - this.#pendingCount > this.broker.limits.maxConnections
  }

  scheduleUncork (c: Connection): void {
    if (this.#corked.length === 0) process.nextTick(this.#uncorkAll)
    this.#corked.push(c)
  }

  /** Called once per connection when it closes. */
  connectionClosed (c: Connection, wasConnected: boolean): void {
    this.connections.delete(c)
    this.admitted(c)
    if (!wasConnected) return
    const broker = this.broker
    broker.stats.clientsConnected--
    this.sessions.connectionClosed(c, true)
    if (broker.listenerCount('clientDisconnect') > 0) broker.emit('clientDisconnect', c, c.disconnectReason)
  }

  // ───────── publishing ─────────

  /**
   * Store (retained) and route a message; returns the store work the sender's
   * acknowledgement must wait for, or null when there is none (the common case).
   */
  dispatch (m: Routed, from: Connection | null): Promise<unknown> | null {
    const broker = this.broker
    let retained: Promise<unknown> | null = null
    if (m.retain) retained = this.#putRetained(m)
    let sent: Promise<void> | null = null
    // cluster-wide shared groups: the node serving each matching group is picked here
    const picks = this.clustered && broker.bus.pickShares !== undefined ? broker.bus.pickShares(m.topic) : null
    if (this.clustered && (broker.bus.interested?.(m.topic) !== false || (picks !== null && pickedElsewhere(picks, broker.id)))) {
      m.own()
      const message = m.stored(m.qos, m.retain)
      // sends of one tick share one write (RedisBus): one error handler per write
      sent = broker.bus.send(picks === null ? { type: 'publish', nodeId: broker.id, message } : { type: 'publish', nodeId: broker.id, message, shares: picks })
      if (m.qos === 0) {
        if (sent !== this.#busSent) {
          this.#busSent = sent
          sent.catch((err: unknown) => { this.storeError('sending a message to the bus', err) })
        }
        sent = null
      }
    }
    let routed: Promise<unknown> | null
    const router = this.router
    if (from !== null && from.protocolVersion === 5 && m.qos > 0 && broker.queuePolicy === 'reject') {
      router.mayReject = true
      router.rejected = false
      try {
        routed = router.route(m, false, picks === null)
      } finally {
        router.mayReject = false
      }
      if (router.rejected) {
        broker.stats.publishRejected++
        const quota = Promise.reject(new BrokerError('BROKER_ERR_QUOTA_EXCEEDED', `a session matching ${JSON.stringify(m.topic)} has a full queue (queuePolicy reject)`, { reasonCode: 0x97 }))
        routed = routed === null ? quota : Promise.all([routed, quota])
      }
    } else {
      routed = router.route(m, false, picks === null)
    }
    if (picks !== null) {
      const served = router.serveShares(picks, m, broker.id, true)
      if (served !== null) routed = routed === null ? served : Promise.all([routed, served])
    }
    if (this.local.size > 0) this.local.deliver(m)
    if (broker.listenerCount('publish') > 0) broker.emit('publish', m, from)
    // a QoS 1/2 acknowledgement waits for the bus write too
    if (sent !== null) retained = retained === null ? sent : Promise.all([retained, sent])
    if (retained === null) return routed
    if (routed === null) return retained
    return Promise.all([retained, routed])
  }

  async #putRetained (m: Routed): Promise<void> {
    const broker = this.broker
    if (m.payload.length > 0 && broker.limits.maxRetained < Infinity) {
      const n = await broker.store.countRetained()
      if (n >= broker.limits.maxRetained && (await broker.store.matchRetained(m.topic)).length === 0) {
        broker.stats.publishDropped++
        this.counters.drops.retainedLimit++
        return
      }
    }
    await broker.store.putRetained(m.stored(m.qos, true))
  }

  /**
   * A message from another node. Publishes are delivered to this node's connected clients
   * (and, with session ownership, queued for the offline sessions this node owns: no other
   * node holds them); the sending node already stored retained messages and chose the
   * shared-subscription member. A takeover closes this node's connection for that client id;
   * the ownership messages go to ownership.ts.
   *
   * Returns, for a publish, the store writes and waits for room it caused (null: none): the
   * bus marks the message read only once they are done, and reads no further meanwhile. A
   * failed write is reported (storeError) and the promise still resolves: the message counts
   * as received, as it was delivered to the connected clients (reading it again would
   * deliver it twice).
   */
  #fromBus (msg: BusMessage): Promise<unknown> | null {
    const broker = this.broker
    if (this.closed || msg.nodeId === broker.id) return null
    if (msg.type === 'publish') {
      const m = Routed.from(msg.message)
      // the store writes of connected persistent sessions (persistInflight) may fail
      let stored = this.router.route(m, true)
      if (stored !== null) stored = stored.catch((err: unknown) => { this.storeError('storing a message from the bus', err) })
      if (msg.shares !== undefined) {
        const served = this.#serveFromBus(msg.shares, m, true)
        if (served !== null) stored = stored === null ? served : Promise.all([stored, served])
      }
      if (this.local.size > 0) this.local.deliver(m)
      if (broker.listenerCount('publish') > 0) broker.emit('publish', m, null)
      return stored
    } else if (msg.type === 'shared') {
      return this.#serveFromBus(msg.shares, Routed.from(msg.message), false)
    } else if (this.ownership.onMessage(msg)) {
      // release, released, a takeover with an epoch (ownership.ts)
    } else if (msg.type === 'takeover') {
      const c = this.sessions.connectionOf(msg.clientId)
      if (c !== undefined) {
        c.error('BROKER_ERR_SESSION_TAKEN_OVER', `client id connected on node ${msg.nodeId}`)
        c.disconnect(0x8E, 'session taken over')
      }
    }
    return null
  }

  /**
   * Node `dead.nodeId` stopped beating and this node won the claim on it (one node of the
   * cluster, once per death): its wills are published here, its sessions adopted (ownership.ts:
   * claimed, routed and queued for here, with what its inbox held for them), and
   * `nodeAdopted` is emitted (the place to adopt what else the dead node held).
   */
  nodeDead (dead: DeadNode): void {
    const broker = this.broker
    if (this.closed || dead.nodeId === broker.id) return
    broker.logger.warn({ node: dead.nodeId, downFor: dead.downFor }, 'cluster node dead: this node adopts it and publishes its wills')
    this.wills.adopt(dead.nodeId, dead.downFor).catch((err: unknown) => { this.storeError('reading a dead node\'s wills', err) })
    this.ownership.adopt(dead.nodeId).then((n) => {
      if (n !== null) broker.logger.info({ node: dead.nodeId, sessions: n.sessions, messages: n.messages }, 'adopted the offline sessions of a dead cluster node')
    }, (err: unknown) => { this.storeError('adopting a dead node\'s sessions', err) })
    if (broker.listenerCount('nodeAdopted') > 0) broker.emit('nodeAdopted', dead.nodeId)
  }

  #serveFromBus (picks: readonly SharePick[], m: Routed, repick: boolean): Promise<unknown> | null {
    const p = this.router.serveShares(picks, m, this.broker.id, repick)
    // a failed write is reported here; the bus gets a promise that settles either way
    return p === null ? null : p.catch((err: unknown) => { this.storeError('serving a shared-subscription message from the bus', err) })
  }

  /**
   * Hand `m` (a delivery `entry` of group `share` that its member did not complete, or a
   * message no member here could take) to another node's member of the group. Returns the bus
   * write, or null when no other node has a member (or the bus has no cluster-wide groups).
   */
  shareElsewhere (share: string, m: Routed, entry: OutEntry | null): Promise<unknown> | null {
    const bus = this.broker.bus
    if (!this.clustered || bus.pickShare === undefined) return null
    const node = bus.pickShare(share, this.broker.id)
    if (node === null) return null
    m.own()
    const message = entry === null ? m.stored(m.qos, m.retain) : m.stored(entry.qos, entry.retain)
    return bus.send({ type: 'shared', nodeId: this.broker.id, message, shares: [[share, node]] })
  }

  /** Tell other nodes that `clientId` connected here. */
  announceConnect (clientId: string): void {
    if (!this.clustered) return
    this.broker.bus.send({ type: 'takeover', nodeId: this.broker.id, clientId })
      .catch((err: unknown) => { this.storeError('sending a takeover to the bus', err) })
  }

  // ───────── closing ─────────

  /**
   * Disconnect every client (5.0: 0x8B) without publishing their wills, and wait for the
   * sessions' store writes.
   */
  async close (): Promise<void> {
    this.closed = true
    this.wills.close()
    if (this.#sweep !== null) this.broker.clock.clearInterval(this.#sweep)
    this.#sweep = null
    const store = this.broker.store
    const chains: Array<Promise<unknown>> = []
    for (const c of [...this.connections]) {
      if (c.takeWill() !== null) {
        // a shutdown is not the client's failure: its will is not published, nor left for the next start
        chains.push(store.deleteWill(c.id).catch(() => {}))
      }
      c.disconnect(0x8B, 'server shutting down')
    }
    this.sessions.closing(chains)
    await Promise.all(chains)
  }
}

/** Whether a pick names a node other than `self`. */
function pickedElsewhere (picks: readonly SharePick[], self: string): boolean {
  for (let i = 0; i < picks.length; i++) if (picks[i]![1] !== self) return true
  return false
}
