/**
 * `Router`: the routing trie (the subscriptions of every session, shared groups), and the
 * match of a message to its deliveries: one per matching session, at the highest matching
 * QoS, with every subscription identifier; one member per shared group. It also decides
 * read authorization per delivery (authorizeRead, authorizeReadFilter, authorizeForward),
 * cached per session.
 *
 * `route` is the hot path: one trie walk with a callback bound once, per-session scratch
 * fields to fold overlapping subscriptions into one delivery, and plain loops over the
 * targets — no closure or promise per subscriber. Nothing is awaited for online
 * subscribers; the store writes their delivery logs issue (persistent sessions) and the
 * offline queues are what the publisher's PUBACK/PUBREC waits for.
 */
import type { QoS } from '@culex/packet'
import { TopicTrie } from '@culex/trie'
import type { OutEntry } from './delivery-log.ts'
import type { Engine } from './engine.ts'
import type { SharePick } from './bus.ts'
import type { BrokerHooks, Client } from './options.ts'
import { Routed } from './routed.ts'
import { OfflineClient, Session, SharedGroup, Sub, type TrieEntry } from './session.ts'
import type { StoredMessage } from './store.ts'

/**
 * authorizeRead answers kept per session; past this many distinct topics the cache starts
 * over, so a session on `#` over many topics holds a bounded map. Topics longer than
 * READ_CACHE_TOPIC are not cached (a hostile topic must not be pinned per session).
 */
const READ_CACHE_MAX = 256
const READ_CACHE_TOPIC = 256

/** The routing table of one broker node. */
export class Router {
  readonly #engine: Engine
  readonly #hooks: BrokerHooks
  readonly #trie = new TopicTrie<TrieEntry>()
  /** Shared groups by `$share/{group}/{filter}`. */
  readonly #groups = new Map<string, SharedGroup>()
  #subCount = 0
  /** Bumped by invalidate: every session's authorizeRead cache is stale. */
  #authEpoch = 1
  // routing scratch (see route)
  #gen = 0
  #origin: string | undefined = undefined
  #targets: Session[] = []
  #shared: SharedGroup[] = []
  #routing = false
  /** Groups are cluster-wide: their member counts go to the bus (Bus.setShare). */
  readonly #clusterShares: boolean
  /** The last deliverShared found no member to take its message. */
  sharedMissed = false
  /** Set for a 5.0 publisher under queuePolicy 'reject': route skips full queues. */
  mayReject = false
  /**
   * Offline persistent sessions queue messages from other nodes too (`onlineOnly` routes):
   * set in a cluster where each session has one owner node (see ownership.ts).
   */
  queueRemote = false
  /** Set while a dead node's messages are handed to the sessions adopted from it: route serves only these. */
  only: Set<Session> | null = null
  /** route skipped a full queue for mayReject. */
  rejected = false
  readonly #collect = (v: TrieEntry): void => {
    if (v.isGroup) {
      this.#shared.push(v)
      return
    }
    const s = v.session
    if (v.nl && s.clientId === this.#origin) return // [MQTT-3.8.3-3] no local
    // a subscription readable as a whole needs no per-topic read decision (asked once per
    // identity and rules: 10 % of the QoS 0 fan-out with a 1,000-rule ACL, see bench:acl)
    if (this.#hooks.authorizeReadFilter !== undefined && (v.readEpoch !== this.#authEpoch || v.readIdent !== s.identGen)) this.#readAllOf(v)
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

  constructor (engine: Engine, hooks: BrokerHooks) {
    this.#engine = engine
    this.#hooks = hooks
    this.#clusterShares = engine.clustered && engine.broker.bus.setShare !== undefined
  }

  /** Number of subscriptions (shared members included). */
  get subscriptionCount (): number {
    return this.#subCount
  }

  // ───────── authorization of deliveries ─────────

  /** Forget every cached read decision (the rules behind the hooks changed). */
  invalidate (): void {
    this.#authEpoch++
  }

  /**
   * May `client` (the identity holding `s`) receive a message on `topic`? Asks
   * authorizeRead once per (session, topic) and epoch; a hook that throws denies.
   */
  canRead (s: Session, client: Client, topic: string): boolean {
    const hook = this.#hooks.authorizeRead
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
      this.#engine.broker.logger.error({ client: client.id, topic, err: (err as Error)?.message ?? String(err) }, 'authorizeRead failed: delivery denied')
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
      ok = this.#hooks.authorizeReadFilter!(s.conn ?? this.offlineClient(s), v.topic) === true
    } catch (err) {
      this.#engine.broker.logger.error({ client: s.clientId, filter: v.topic, err: (err as Error)?.message ?? String(err) }, 'authorizeReadFilter failed: per-topic decisions instead')
    }
    v.readAll = ok
    v.readEpoch = this.#authEpoch
    v.readIdent = s.identGen
  }

  /**
   * The identity authorization decides for while `s` has no connection: the last one that
   * held it (or its stored owner after a restart).
   */
  offlineClient (s: Session): Client {
    return (s.offline ??= new OfflineClient(s.clientId, s.protocolVersion, s.owner))
  }

  /**
   * The message `client` may receive on a path off the fan-out loop (retained on
   * subscribe, replay on resume, shared groups): authorizeRead, then authorizeForward.
   */
  readable (s: Session, client: Client, m: StoredMessage): StoredMessage | null {
    if (!this.canRead(s, client, m.topic)) return null
    const forward = this.#hooks.authorizeForward
    return forward === undefined ? m : forward(client, m)
  }

  // ───────── routing ─────────

  /**
   * Deliver `m` to every matching session: one delivery per session at the highest
   * matching QoS with all subscription identifiers; one member per shared group. Returns
   * the store work the sender's acknowledgement must wait for, or null. `onlineOnly`: a message
   * from another node (no offline queueing unless `queueRemote`); `withShared` false: the
   * shared groups are served apart (cluster-wide groups, see serveShares).
   */
  route (m: Routed, onlineOnly = false, withShared = !onlineOnly): Promise<unknown> | null {
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
    const engine = this.#engine
    const hooks = this.#hooks
    const persistInflight = engine.broker.persistInflight
    let pending: Array<Promise<unknown>> | null = null
    try {
      this.#trie.forEachMatch(m.topic, this.#collect)
      const forward = hooks.authorizeForward
      // read authorization per delivery, against the receiver's identity (cached per session)
      const read = hooks.authorizeRead !== undefined
      const only = this.only
      for (let i = 0; i < targets.length; i++) {
        const s = targets[i]!
        if (only !== null && !only.has(s)) continue
        const qos = (s.dq < m.qos ? s.dq : m.qos) as QoS
        const retain = s.drap ? m.retain : false // [MQTT-3.3.1-12] [MQTT-3.3.1-13]
        const c = s.conn
        if (c !== null) {
          if (read && !s.dreadAll && !this.canRead(s, c, m.topic)) continue
          if (c.overQueued && qos > 0 && this.mayReject) {
            this.rejected = true
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
          if (e === null) continue
          if (persistInflight && s.persistent) (pending ??= []).push(c.log!.persist(e))
          // a full queue: the publisher's ack waits until it has room (one promise per episode);
          // under 'reject' the message that filled it is taken, the next ones are refused
          if (c.overQueued && !this.mayReject) (pending ??= []).push(c.log!.room())
        } else if (qos > 0 && s.persistent && (!onlineOnly || this.queueRemote)) {
          // queued only if its owner may read it now; checked again on replay
          if (read && !s.dreadAll && !this.canRead(s, this.offlineClient(s), m.topic)) continue
          (pending ??= []).push(engine.sessions.enqueueOffline(s, m.stored(qos, retain), s.dids))
        }
      }
      for (let i = 0; i < shared.length; i++) {
        if (!withShared) continue // the sending node picked the shared-group member
        const p = this.deliverShared(shared[i]!, m, null, null)
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
   * One member of a shared group gets the message: the next connected member in
   * round-robin order, else the next persistent offline member (queued), else nobody.
   * `entry` is a delivery the member `exclude` did not complete (redistributed).
   */
  deliverShared (g: SharedGroup, m: Routed, exclude: Session | null, entry: OutEntry | null): Promise<unknown> | null {
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
        this.sharedMissed = false
        return e !== null && c.overQueued ? c.log!.room() : null
      }
      if (offline === null && s.persistent && this.canRead(s, this.offlineClient(s), m.topic)) offline = sub
    }
    this.sharedMissed = false
    // redistributed (its member dropped): a connected member on another node before an offline one here
    if (exclude !== null) {
      const p = this.#engine.shareElsewhere(g.key, m, entry)
      if (p !== null) return p
    }
    if (offline === null) {
      this.sharedMissed = true
      return null
    }
    g.next = members.indexOf(offline) + 1
    const qos = (offline.qos < m.qos ? offline.qos : m.qos) as QoS
    if (qos === 0) return null
    return this.#engine.sessions.enqueueOffline(offline.session, m.stored(qos, offline.rap ? m.retain : false), offline.subId > 0 ? [offline.subId] : null)
  }

  /**
   * Serve the cluster-wide groups `picks` assigns to `self` (one member each, as deliverShared).
   * A group gone from this node since the pick, or without a member to take the message, is
   * handed to another node when `repick` (once: a redistributed message is not passed on
   * again); else it is counted and logged as dropped. Returns the store/bus work, or null.
   */
  serveShares (picks: readonly SharePick[], m: Routed, self: string, repick: boolean): Promise<unknown> | null {
    let pending: Array<Promise<unknown>> | null = null
    for (let i = 0; i < picks.length; i++) {
      const pick = picks[i]!
      if (pick[1] !== self) continue
      const g = this.#groups.get(pick[0])
      let p: Promise<unknown> | null = null
      let missed = true
      if (g !== undefined) {
        p = this.deliverShared(g, m, null, null)
        missed = this.sharedMissed
      }
      if (missed && repick) {
        p = this.#engine.shareElsewhere(pick[0], m, null)
        missed = p === null
      }
      if (missed && m.qos > 0) {
        this.#engine.broker.stats.publishDropped++
        this.#engine.broker.logger.warn({ share: pick[0], topic: m.topic }, 'a shared-subscription message found no member on any node: dropped')
      }
      if (p !== null) (pending ??= []).push(p)
    }
    if (pending === null) return null
    return pending.length === 1 ? pending[0]! : Promise.all(pending)
  }

  /** Tell the bus how many members (connected, all) group `g` has on this node. */
  #shareCount (g: SharedGroup): void {
    if (!this.#clusterShares) return
    let online = 0
    const members = g.members
    for (let i = 0; i < members.length; i++) if (members[i]!.session.conn !== null) online++
    this.#engine.broker.bus.setShare!(g.key, online, members.length)
  }

  /** `s` got or lost its connection: its groups' connected-member counts changed. */
  presence (s: Session): void {
    if (!this.#clusterShares) return
    for (const sub of s.subs.values()) if (sub.group !== null) this.#shareCount(sub.group)
  }

  /** deliverShared returns null both when delivered online and when nobody took it; tell them apart. */
  handedOver (g: SharedGroup, exclude: Session): boolean {
    for (const m of g.members) if (m.session !== exclude && m.session.conn !== null) return true
    return false
  }

  // ───────── subscriptions ─────────

  /**
   * Add or replace a subscription of `s`. `topic` may be `$share/g/f` (already validated).
   * Returns true if it replaced an existing subscription [MQTT-3.8.4-3].
   */
  add (s: Session, topic: string, qos: QoS, nl: boolean, rap: boolean, rh: 0 | 1 | 2, subId: number): boolean {
    const existing = s.subs.get(topic)
    if (existing !== undefined) {
      existing.qos = qos
      existing.nl = nl
      existing.rap = rap
      existing.rh = rh
      existing.subId = subId
      return true
    }
    const bus = this.#engine.broker.bus
    let group: SharedGroup | null = null
    let filter = topic
    if (topic.startsWith('$share/')) {
      const slash = topic.indexOf('/', 7)
      const name = topic.slice(7, slash)
      filter = topic.slice(slash + 1)
      group = this.#groups.get(topic) ?? null
      if (group === null) {
        group = new SharedGroup(name, filter)
        this.#groups.set(group.key, group)
        this.#trie.add(filter, group)
        // a bus with cluster-wide groups sends to a group's node only when it is picked
        if (!this.#clusterShares) bus.addRoute?.(filter)
      }
    }
    const sub = new Sub(s, topic, qos, nl, rap, rh, subId, group)
    if (group !== null) {
      group.members.push(sub)
      this.#shareCount(group)
    } else {
      this.#trie.add(filter, sub)
      bus.addRoute?.(filter)
    }
    s.subs.set(topic, sub)
    this.#subCount++
    return false
  }

  /** Remove a subscription; false if `s` had none for `topic`. */
  remove (s: Session, topic: string): boolean {
    const sub = s.subs.get(topic)
    if (sub === undefined) return false
    s.subs.delete(topic)
    this.#subCount--
    const bus = this.#engine.broker.bus
    const g = sub.group
    if (g === null) {
      this.#trie.remove(topic, sub)
      bus.removeRoute?.(topic)
      return true
    }
    const i = g.members.indexOf(sub)
    if (i >= 0) g.members.splice(i, 1)
    this.#shareCount(g)
    if (g.members.length === 0) {
      this.#trie.remove(g.filter, g)
      if (!this.#clusterShares) bus.removeRoute?.(g.filter)
      this.#groups.delete(g.key)
    }
    return true
  }
}
