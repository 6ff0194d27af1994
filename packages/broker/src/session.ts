/**
 * The in-memory model of a session: its subscriptions (as registered in the routing trie),
 * the connection currently attached (or null while offline), its expiry and pending will.
 *
 * A session lives in the broker's map from its first CONNECT until it ends (clean session
 * disconnect, clean start, or expiry). What must survive a restart is mirrored in the
 * Store for persistent sessions only (expiry interval > 0); clean sessions never touch the
 * store.
 */
import type { QoS, Will } from '@culex/packet'
import type { ClockTimer } from './clock.ts'
import type { Connection } from './connection.ts'
import type { Client, ConnectionInfo } from './options.ts'
import type { SubscriptionRecord } from './store.ts'

const NO_INFO: ConnectionInfo = Object.freeze({})

/**
 * The identity that last held a session, kept while it is offline: authorization of what
 * is queued for it (authorizeRead) and of its delayed will is decided against it.
 */
export class OfflineClient implements Client {
  readonly id: string
  readonly protocolVersion: 3 | 4 | 5
  readonly username: string | undefined
  readonly info: ConnectionInfo
  readonly connected = false
  readonly keepalive = 0
  constructor (id: string, protocolVersion: 3 | 4 | 5, username: string | undefined, info: ConnectionInfo = NO_INFO) {
    this.id = id
    this.protocolVersion = protocolVersion
    this.username = username
    this.info = info
  }

  close (): void {}
}

/** A shared subscription group for one (ShareName, filter): one member gets each message. */
export class SharedGroup {
  readonly isGroup = true
  readonly name: string
  readonly filter: string
  /** `$share/{name}/{filter}`: the group's name on the bus. */
  readonly key: string
  readonly members: Sub[] = []
  /** Round-robin cursor. */
  next = 0
  constructor (name: string, filter: string) {
    this.name = name
    this.filter = filter
    this.key = `$share/${name}/${filter}`
  }
}

/** One subscription of one session, as stored in the routing trie. */
export class Sub {
  readonly isGroup = false
  readonly session: Session
  /** The filter as subscribed (with `$share/{group}/` if shared). */
  readonly topic: string
  qos: QoS
  nl: boolean
  rap: boolean
  rh: 0 | 1 | 2
  subId: number
  group: SharedGroup | null
  /** authorizeReadFilter's answer for this filter, valid for `readEpoch` and `readIdent`. */
  readAll = false
  readEpoch = 0
  readIdent = -1
  constructor (session: Session, topic: string, qos: QoS, nl: boolean, rap: boolean, rh: 0 | 1 | 2, subId: number, group: SharedGroup | null) {
    this.session = session
    this.topic = topic
    this.qos = qos
    this.nl = nl
    this.rap = rap
    this.rh = rh
    this.subId = subId
    this.group = group
  }

  record (): SubscriptionRecord {
    const r: SubscriptionRecord = { topic: this.topic, qos: this.qos, nl: this.nl, rap: this.rap, rh: this.rh }
    if (this.subId > 0) r.subscriptionId = this.subId
    return r
  }
}

/** What the routing trie holds. */
export type TrieEntry = Sub | SharedGroup

/** A session (connected or not). */
export class Session {
  readonly clientId: string
  conn: Connection | null = null
  protocolVersion: 3 | 4 | 5
  /** Seconds; 0 = ends with the connection, 0xFFFFFFFF = never expires. */
  expiryInterval: number
  readonly subs = new Map<string, Sub>()
  /** Incoming QoS 2 packet ids: PUBREC sent, PUBREL not yet received. Lazy. */
  incoming: Set<number> | null = null
  /** Store writes for this session not yet settled (see track); made at the first one. */
  #writes: Writes | null = null

  /** Expiry timer while offline. */
  expiryTimer: ClockTimer | null = null
  /** Delayed will waiting to be published. */
  will: Will | null = null
  willTimer: ClockTimer | null = null
  /** True when restored from the store at start (incoming QoS 2 ids live there). */
  restored = false
  /**
   * The username the session belongs to: a connection with another username does not
   * resume it (see handlers/connect.ts).
   */
  owner: string | undefined = undefined
  /** Who authorization decides for while no connection is attached. */
  offline: Client | null = null
  /**
   * Adopted from a dead node, until what its inbox held is queued: new messages queue after
   * that (in order, their acknowledgements waiting for it). Null otherwise.
   */
  held: Promise<void> | null = null
  /** authorizeRead answers by topic, valid while `readEpoch` is the broker's epoch. */
  readCache: Map<string, boolean> | null = null
  readEpoch = 0
  /** Bumped whenever the identity holding the session changes (connect, re-authentication). */
  identGen = 0
  // routing scratch, reused by every route call (see Broker.#collect)
  gen = 0
  dq = 0
  drap = false
  dids: number[] | null = null
  /** A matching subscription is readable as a whole (authorizeReadFilter): no per-topic check. */
  dreadAll = false

  constructor (clientId: string, protocolVersion: 3 | 4 | 5, expiryInterval: number) {
    this.clientId = clientId
    this.protocolVersion = protocolVersion
    this.expiryInterval = expiryInterval
  }

  /**
   * Count a store write of this session until it settles, fulfilled or not (its caller
   * reports failures). Returns the write's generation; a write issued when another one
   * finished passes that one's `gen`, so a wait for the first also covers it.
   */
  track (p: Promise<unknown>, gen?: number): number {
    return (this.#writes ??= new Writes()).track(p, gen)
  }

  /**
   * Null when no tracked write is pending, else a promise that resolves once every write
   * tracked before this call has settled. Writes tracked later are not waited for: a
   * reconnect under a steady stream of messages (each one a new write) still goes on.
   */
  settled (): Promise<void> | null {
    return this.#writes === null ? null : this.#writes.settled()
  }

  /** Persistent sessions are mirrored in the store. */
  get persistent (): boolean {
    return this.expiryInterval > 0
  }
}

/**
 * Store writes of one session, counted in two generations: new writes go to the current
 * one, and a wait (settled) moves them to the old one and waits for it to drain. Counters,
 * not a promise chain: chaining with Promise.all nested every result in the next one, so a
 * session that stayed offline while messages were queued for it held a list as long as the
 * queue until it reconnected (16 % of the broker's CPU went to GC in a 100,000-message
 * offline queue). The two settle callbacks are bound once per session.
 */
class Writes {
  #n0 = 0
  #n1 = 0
  /** The generation new writes count in. */
  #gen = 0
  /** The wait for the other generation to drain, while one is on. */
  #wait: Promise<void> | null = null
  #release: (() => void) | null = null
  readonly #done0 = (): void => { if (--this.#n0 === 0 && this.#gen === 1) this.#open() }
  readonly #done1 = (): void => { if (--this.#n1 === 0 && this.#gen === 0) this.#open() }

  /**
   * `gen` (default: the current one) may name the old generation only from the settling of
   * a write of it: that write is still counted, so its wait is on and not over yet.
   */
  track (p: Promise<unknown>, gen = this.#gen): number {
    if (gen === 0) {
      this.#n0++
      p.then(this.#done0, this.#done0)
    } else {
      this.#n1++
      p.then(this.#done1, this.#done1)
    }
    return gen
  }

  settled (): Promise<void> | null {
    // a wait is on: this one starts when it ends (and covers what was tracked meanwhile)
    if (this.#wait !== null) return this.#wait.then(async () => { await this.settled() })
    if ((this.#gen === 0 ? this.#n0 : this.#n1) === 0) return null
    this.#gen ^= 1
    this.#wait = new Promise((resolve) => { this.#release = resolve })
    return this.#wait
  }

  /** The old generation drained (a write of it settling last means a wait is on). */
  #open (): void {
    const release = this.#release!
    this.#wait = null
    this.#release = null
    release()
  }
}
