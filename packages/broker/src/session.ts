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
import type { Connection } from './connection.ts'
import type { SubscriptionRecord } from './store.ts'

/** A shared subscription group for one (ShareName, filter): one member gets each message. */
export class SharedGroup {
  readonly isGroup = true
  readonly name: string
  readonly filter: string
  readonly members: Sub[] = []
  /** Round-robin cursor. */
  next = 0
  constructor (name: string, filter: string) {
    this.name = name
    this.filter = filter
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
  /** Store writes for this session not yet settled (see track). */
  #writes = 0
  #idle: Array<() => void> | null = null
  /** Bound once, at the first tracked write (most sessions never write): see track. */
  #settle: (() => void) | null = null

  /** Expiry timer while offline. */
  expiryTimer: NodeJS.Timeout | null = null
  /** Delayed will waiting to be published. */
  will: Will | null = null
  willTimer: NodeJS.Timeout | null = null
  /** True when restored from the store at start (incoming QoS 2 ids live there). */
  restored = false
  // routing scratch, reused by every route call (see Broker.#collect)
  gen = 0
  dq = 0
  drap = false
  dids: number[] | null = null

  constructor (clientId: string, protocolVersion: 3 | 4 | 5, expiryInterval: number) {
    this.clientId = clientId
    this.protocolVersion = protocolVersion
    this.expiryInterval = expiryInterval
  }

  /**
   * Count a store write of this session (an offline enqueue, a record update) until it
   * settles, fulfilled or not (its caller reports failures). A counter, not a promise chain:
   * chaining with Promise.all nested every result in the next one, so a session that stayed
   * offline while messages were queued for it held a list as long as the queue until it
   * reconnected (16 % of the broker's CPU went to GC in a 100,000-message offline queue).
   */
  track (p: Promise<unknown>): void {
    this.#writes++
    const settle = (this.#settle ??= () => {
      if (--this.#writes > 0 || this.#idle === null) return
      const waiting = this.#idle
      this.#idle = null
      for (const resolve of waiting) resolve()
    })
    p.then(settle, settle)
  }

  /**
   * Null when no tracked write is pending, else a promise that resolves once none is. Only
   * called where no further writes for the session start meanwhile (a reconnect routes new
   * messages to the connection; an ending session gets none), so the wait always ends.
   */
  settled (): Promise<void> | null {
    if (this.#writes === 0) return null
    return new Promise((resolve) => { (this.#idle ??= []).push(resolve) })
  }

  /** Persistent sessions are mirrored in the store. */
  get persistent (): boolean {
    return this.expiryInterval > 0
  }
}
