/**
 * `TimedStore`: a {@link Store} that forwards every call to another store and records how
 * long each operation took, per operation, in fixed latency buckets (a histogram), for
 * `broker.metrics().storeOperations` and the `culex_store_operation_duration_seconds`
 * Prometheus histogram.
 *
 * What it does and does not do:
 * - One observation per call, taken when the returned promise settles (resolved or
 *   rejected): the time from the call to the settlement, on `performance.now()` (monotonic,
 *   sub-millisecond), not on the broker's `clock` option, whose `now()` is wall time in
 *   whole milliseconds: most MemoryStore and many LevelDB calls take less than one.
 * - Recording allocates nothing: each operation owns a slice of one `Float64Array` of bucket
 *   counts and a slot of another for the sum. The cost per call is the wrapper's own async
 *   frame (one promise) and two clock reads; see the README of @culex/broker for the number.
 * - `sessions()` (a streaming scan, read at start-up while the consumer works between
 *   items) and `close()` are forwarded untimed.
 * - Results, errors and argument objects pass through unchanged: it adds no copy.
 */
import type {
  EnqueueResult, OutgoingRecord, OutgoingUpdate, SessionClaim, SessionOwner, SessionRecord, Store, StoredMessage, SubscriptionRecord, WillRecord
} from './store.ts'

/** The timed Store operations, in the order of {@link StoreTimings.operations}' keys. */
export const STORE_OPERATIONS = [
  'getSession', 'saveSession', 'deleteSession', 'addSubscriptions', 'removeSubscriptions', 'setSessionExpiry', 'expireSessions',
  'putRetained', 'matchRetained', 'countRetained',
  'enqueue', 'enqueueMany', 'updateOutgoing', 'ackOutgoing', 'removeOutgoing', 'outgoing',
  'putIncoming', 'hasIncoming', 'deleteIncoming',
  'putWill', 'getWill', 'deleteWill', 'willsOfNode'
] as const

/** The name of a timed Store method. */
export type StoreOperation = typeof STORE_OPERATIONS[number]

/**
 * Upper bounds (seconds, inclusive) of the latency buckets; a last, implicit bucket holds
 * everything slower (+Inf). From 50 µs (an in-memory store) to 2.5 s (a stalled database).
 */
export const STORE_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
])

/** The latency histogram of one operation. */
export interface StoreOperationTiming {
  /**
   * Observations per bucket, not cumulative: `counts[i]` took at most `buckets[i]` seconds
   * and more than `buckets[i - 1]`; the last entry (index `buckets.length`) took longer than
   * every bound.
   */
  counts: number[]
  /** Sum of the observed durations, in seconds. */
  sum: number
  /** Number of calls that settled (the sum of `counts`). */
  count: number
}

/** Latency histograms of the store's operations (`broker.metrics().storeOperations`). */
export interface StoreTimings {
  /** Upper bounds of the buckets in seconds ({@link STORE_LATENCY_BUCKETS}). */
  buckets: readonly number[]
  operations: Record<StoreOperation, StoreOperationTiming>
}

const NB = STORE_LATENCY_BUCKETS.length + 1
const OP = Object.fromEntries(STORE_OPERATIONS.map((name, i) => [name, i])) as Record<StoreOperation, number>

/** Options of {@link TimedStore}. */
export interface TimedStoreOptions {
  /** Monotonic clock in milliseconds. Default `performance.now`. For tests. */
  now?: () => number
}

/**
 * Wraps `inner`, timing each call. The broker installs it with `storeMetrics: true`.
 *
 * @example
 * ```ts
 * const store = new TimedStore(new MemoryStore())
 * await store.countRetained()
 * store.timings().operations.countRetained.count // 1
 * ```
 */
export class TimedStore implements Store {
  /** The store every call goes to. */
  readonly inner: Store
  readonly #now: () => number
  // bucket counts: operation i owns [i * NB, (i + 1) * NB)
  readonly #counts = new Float64Array(STORE_OPERATIONS.length * NB)
  readonly #sums = new Float64Array(STORE_OPERATIONS.length)

  /** Forwarded untimed when the inner store has it (rare: once per CONNECT of a cluster node). */
  readonly claimSession?: (clientId: string, nodeId: string) => Promise<SessionClaim>
  readonly sessionOwner?: (clientId: string) => Promise<SessionOwner | null>

  constructor (inner: Store, opts: TimedStoreOptions = {}) {
    this.inner = inner
    this.#now = opts.now ?? performance.now.bind(performance)
    // optional, and not timed (rare: a dead node's wills)
    if (inner.takeWill !== undefined) this.takeWill = async (clientId, nodeId) => await inner.takeWill!(clientId, nodeId)
    if (inner.claimSession !== undefined) this.claimSession = inner.claimSession.bind(inner)
    if (inner.sessionOwner !== undefined) this.sessionOwner = inner.sessionOwner.bind(inner)
  }

  /** The inner store's `takeWill`, when it has one. */
  readonly takeWill?: (clientId: string, nodeId: string) => Promise<WillRecord | null>

  #record (op: number, t0: number): void {
    const d = (this.#now() - t0) / 1000
    const b = STORE_LATENCY_BUCKETS
    let i = 0
    while (i < b.length && d > b[i]!) i++
    this.#counts[op * NB + i]!++
    this.#sums[op]! += d
  }

  /** A snapshot of the histograms (fresh arrays; allocates, so call it per scrape). */
  timings (): StoreTimings {
    const operations = {} as Record<StoreOperation, StoreOperationTiming>
    for (let op = 0; op < STORE_OPERATIONS.length; op++) {
      const counts = Array.from(this.#counts.subarray(op * NB, (op + 1) * NB))
      let count = 0
      for (const c of counts) count += c
      operations[STORE_OPERATIONS[op]!] = { counts, sum: this.#sums[op]!, count }
    }
    return { buckets: STORE_LATENCY_BUCKETS, operations }
  }

  async getSession (clientId: string): Promise<SessionRecord | null> {
    const t0 = this.#now()
    try { return await this.inner.getSession(clientId) } finally { this.#record(OP.getSession, t0) }
  }

  async saveSession (session: SessionRecord): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.saveSession(session) } finally { this.#record(OP.saveSession, t0) }
  }

  async deleteSession (clientId: string): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.deleteSession(clientId) } finally { this.#record(OP.deleteSession, t0) }
  }

  async addSubscriptions (clientId: string, subs: SubscriptionRecord[]): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.addSubscriptions(clientId, subs) } finally { this.#record(OP.addSubscriptions, t0) }
  }

  async removeSubscriptions (clientId: string, topics: string[]): Promise<boolean[]> {
    const t0 = this.#now()
    try { return await this.inner.removeSubscriptions(clientId, topics) } finally { this.#record(OP.removeSubscriptions, t0) }
  }

  sessions (): AsyncIterable<SessionRecord> {
    return this.inner.sessions()
  }

  async setSessionExpiry (clientId: string, expiresAt: number | undefined): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.setSessionExpiry(clientId, expiresAt) } finally { this.#record(OP.setSessionExpiry, t0) }
  }

  async expireSessions (now: number): Promise<string[]> {
    const t0 = this.#now()
    try { return await this.inner.expireSessions(now) } finally { this.#record(OP.expireSessions, t0) }
  }

  async putRetained (message: StoredMessage): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.putRetained(message) } finally { this.#record(OP.putRetained, t0) }
  }

  async matchRetained (filter: string): Promise<StoredMessage[]> {
    const t0 = this.#now()
    try { return await this.inner.matchRetained(filter) } finally { this.#record(OP.matchRetained, t0) }
  }

  async countRetained (): Promise<number> {
    const t0 = this.#now()
    try { return await this.inner.countRetained() } finally { this.#record(OP.countRetained, t0) }
  }

  async enqueue (clientId: string, message: StoredMessage, subscriptionIds?: number[], sent?: OutgoingUpdate): Promise<EnqueueResult> {
    const t0 = this.#now()
    try { return await this.inner.enqueue(clientId, message, subscriptionIds, sent) } finally { this.#record(OP.enqueue, t0) }
  }

  async enqueueMany (entries: ReadonlyArray<{ clientId: string, subscriptionIds?: number[] }>, message: StoredMessage): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.enqueueMany(entries, message) } finally { this.#record(OP.enqueueMany, t0) }
  }

  async updateOutgoing (clientId: string, seq: number, update: OutgoingUpdate): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.updateOutgoing(clientId, seq, update) } finally { this.#record(OP.updateOutgoing, t0) }
  }

  async ackOutgoing (clientId: string, messageId: number): Promise<OutgoingRecord | null> {
    const t0 = this.#now()
    try { return await this.inner.ackOutgoing(clientId, messageId) } finally { this.#record(OP.ackOutgoing, t0) }
  }

  async removeOutgoing (clientId: string, seq: number): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.removeOutgoing(clientId, seq) } finally { this.#record(OP.removeOutgoing, t0) }
  }

  async outgoing (clientId: string, now: number): Promise<OutgoingRecord[]> {
    const t0 = this.#now()
    try { return await this.inner.outgoing(clientId, now) } finally { this.#record(OP.outgoing, t0) }
  }

  async putIncoming (clientId: string, messageId: number): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.putIncoming(clientId, messageId) } finally { this.#record(OP.putIncoming, t0) }
  }

  async hasIncoming (clientId: string, messageId: number): Promise<boolean> {
    const t0 = this.#now()
    try { return await this.inner.hasIncoming(clientId, messageId) } finally { this.#record(OP.hasIncoming, t0) }
  }

  async deleteIncoming (clientId: string, messageId: number): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.deleteIncoming(clientId, messageId) } finally { this.#record(OP.deleteIncoming, t0) }
  }

  async putWill (will: WillRecord): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.putWill(will) } finally { this.#record(OP.putWill, t0) }
  }

  async getWill (clientId: string): Promise<WillRecord | null> {
    const t0 = this.#now()
    try { return await this.inner.getWill(clientId) } finally { this.#record(OP.getWill, t0) }
  }

  async deleteWill (clientId: string): Promise<void> {
    const t0 = this.#now()
    try { await this.inner.deleteWill(clientId) } finally { this.#record(OP.deleteWill, t0) }
  }

  async willsOfNode (nodeId: string): Promise<WillRecord[]> {
    const t0 = this.#now()
    try { return await this.inner.willsOfNode(nodeId) } finally { this.#record(OP.willsOfNode, t0) }
  }

  close (): Promise<void> {
    return this.inner.close()
  }
}

/** The timings of `store` when it is a {@link TimedStore}, else undefined. */
export function storeTimings (store: Store): StoreTimings | undefined {
  return store instanceof TimedStore ? store.timings() : undefined
}
