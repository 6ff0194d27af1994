/**
 * `MemoryStore`: the in-process {@link Store}. Nothing survives the process; everything is
 * kept in Maps, so every method does its work synchronously and returns an already-resolved
 * promise.
 *
 * Buffers given to it may be views of socket chunks: it copies every payload and binary
 * property it keeps (once, on the way in). Records it returns are fresh objects; payload
 * Buffers inside them are shared with the store and must be treated as read-only.
 *
 * Retained messages are indexed with `RetainedIndex` from @culex/trie, so matching a filter
 * walks only the branches the filter can match.
 */
import { RetainedIndex } from '@culex/trie'
import type { PublishProperties, WillProperties } from '@culex/packet'
import { realClock, type Clock } from './clock.ts'
import type {
  EnqueueResult, OutgoingRecord, OutgoingUpdate, SessionClaim, SessionOwner, SessionRecord, Store, StoredMessage,
  StoreOptions, SubscriptionRecord, WillRecord
} from './store.ts'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions extends StoreOptions {
  /**
   * Where its expiry checks (sessions, retained and queued messages) read the time. Default
   * the real clock; a broker that creates its own MemoryStore passes its option `clock`.
   */
  clock?: Pick<Clock, 'now'>
}

function copyProps<P extends PublishProperties | WillProperties> (p: P): P {
  const out = { ...p }
  if (p.correlationData !== undefined) out.correlationData = Buffer.from(p.correlationData)
  const up = p.userProperties
  if (up !== undefined) {
    // [name, value] pairs keep their order (the broker's own form); an object is copied as is
    out.userProperties = Array.isArray(up) ? up.map(([k, v]): [string, string] => [k, v]) : { ...up }
  }
  return out
}

/** Copy a message so that it owns its bytes (the input may be a view of a socket chunk). */
export function copyMessage (m: StoredMessage): StoredMessage {
  const out: StoredMessage = { topic: m.topic, payload: Buffer.from(m.payload), qos: m.qos, retain: m.retain }
  if (m.properties !== undefined) out.properties = copyProps(m.properties)
  if (m.expiresAt !== undefined) out.expiresAt = m.expiresAt
  if (m.origin !== undefined) out.origin = m.origin
  return out
}

/**
 * One client's outgoing records by seq (a Map keeps insertion order, and seqs only grow, so
 * iteration is seq order), the number in state 'queued', and packet id → seq of the sent ones.
 * Every operation is O(1); with arrays, enqueue, update and
 * remove were O(queue length), which made a 50,000-message offline queue quadratic.
 */
interface ClientQueue {
  records: Map<number, OutgoingRecord>
  queued: number
  byId: Map<number, number>
}

function copyRecord (r: OutgoingRecord): OutgoingRecord {
  const out: OutgoingRecord = { seq: r.seq, state: r.state, message: { ...r.message } }
  if (r.messageId !== undefined) out.messageId = r.messageId
  if (r.subscriptionIds !== undefined) out.subscriptionIds = r.subscriptionIds.slice()
  return out
}

function copySession (s: SessionRecord): SessionRecord {
  const out: SessionRecord = {
    clientId: s.clientId,
    protocolVersion: s.protocolVersion,
    expiryInterval: s.expiryInterval,
    subscriptions: s.subscriptions.map((sub) => ({ ...sub }))
  }
  if (s.expiresAt !== undefined) out.expiresAt = s.expiresAt
  if (s.username !== undefined) out.username = s.username
  return out
}

function copyWill (w: WillRecord, copyBytes: boolean): WillRecord {
  const out: WillRecord = { ...w, payload: copyBytes ? Buffer.from(w.payload) : w.payload }
  if (w.properties !== undefined) out.properties = copyBytes ? copyProps(w.properties) : { ...w.properties }
  return out
}

/**
 * A {@link Store} in memory: the default store of a `Broker`.
 *
 * @example
 * ```ts
 * import { Broker, MemoryStore } from '@culex/broker'
 * const broker = new Broker({ store: new MemoryStore() })
 * ```
 */
export class MemoryStore implements Store {
  readonly #sessions = new Map<string, SessionRecord>()
  readonly #retained = new RetainedIndex<StoredMessage>()
  readonly #outgoing = new Map<string, ClientQueue>()
  readonly #incoming = new Map<string, Set<number>>()
  readonly #wills = new Map<string, WillRecord>()
  readonly #owners = new Map<string, SessionOwner>()
  #seq = 0
  #closed = false
  readonly #clock: Pick<Clock, 'now'>

  /** @param opts - its clock; the queue bound is the broker's limits.maxStoredMessages */
  constructor (opts: MemoryStoreOptions = {}) {
    this.#clock = opts.clock ?? realClock
  }

  #check (): void {
    if (this.#closed) throw new Error('MemoryStore: used after close()')
  }

  #live (clientId: string): SessionRecord | undefined {
    const s = this.#sessions.get(clientId)
    if (s === undefined) return undefined
    if (s.expiresAt !== undefined && s.expiresAt <= this.#clock.now()) return undefined
    return s
  }

  async getSession (clientId: string): Promise<SessionRecord | null> {
    this.#check()
    const s = this.#live(clientId)
    return s === undefined ? null : copySession(s)
  }

  async saveSession (session: SessionRecord): Promise<void> {
    this.#check()
    this.#sessions.set(session.clientId, copySession(session))
  }

  async deleteSession (clientId: string): Promise<void> {
    this.#check()
    this.#drop(clientId)
  }

  #drop (clientId: string): void {
    this.#sessions.delete(clientId)
    this.#outgoing.delete(clientId)
    this.#incoming.delete(clientId)
  }

  async addSubscriptions (clientId: string, subs: SubscriptionRecord[]): Promise<void> {
    this.#check()
    const s = this.#sessions.get(clientId)
    if (s === undefined) return
    for (const sub of subs) {
      const i = s.subscriptions.findIndex((x) => x.topic === sub.topic)
      if (i >= 0) s.subscriptions[i] = { ...sub }
      else s.subscriptions.push({ ...sub })
    }
  }

  async removeSubscriptions (clientId: string, topics: string[]): Promise<boolean[]> {
    this.#check()
    const s = this.#sessions.get(clientId)
    return topics.map((topic) => {
      if (s === undefined) return false
      const i = s.subscriptions.findIndex((x) => x.topic === topic)
      if (i < 0) return false
      s.subscriptions.splice(i, 1)
      return true
    })
  }

  async * sessions (): AsyncIterable<SessionRecord> {
    this.#check()
    const now = this.#clock.now()
    for (const s of [...this.#sessions.values()]) {
      if (s.expiresAt === undefined || s.expiresAt > now) yield copySession(s)
    }
  }

  async setSessionExpiry (clientId: string, expiresAt: number | undefined): Promise<void> {
    this.#check()
    const s = this.#sessions.get(clientId)
    if (s === undefined) return
    if (expiresAt === undefined) delete s.expiresAt
    else s.expiresAt = expiresAt
  }

  async expireSessions (now: number): Promise<string[]> {
    this.#check()
    const gone: string[] = []
    for (const s of this.#sessions.values()) {
      if (s.expiresAt !== undefined && s.expiresAt <= now) gone.push(s.clientId)
    }
    for (const id of gone) this.#drop(id)
    return gone
  }

  async putRetained (message: StoredMessage): Promise<void> {
    this.#check()
    if (message.payload.length === 0) this.#retained.delete(message.topic)
    else this.#retained.set(message.topic, copyMessage(message))
  }

  async matchRetained (filter: string): Promise<StoredMessage[]> {
    this.#check()
    const now = this.#clock.now()
    const out: StoredMessage[] = []
    for (const m of this.#retained.matchFilter(filter)) {
      if (m.expiresAt !== undefined && m.expiresAt <= now) {
        this.#retained.delete(m.topic)
        continue
      }
      out.push({ ...m })
    }
    return out
  }

  async countRetained (): Promise<number> {
    this.#check()
    return this.#retained.size
  }

  #queue (clientId: string): ClientQueue {
    let q = this.#outgoing.get(clientId)
    if (q === undefined) {
      q = { records: new Map(), queued: 0, byId: new Map() }
      this.#outgoing.set(clientId, q)
    }
    return q
  }

  #append (clientId: string, message: StoredMessage, subscriptionIds: number[] | undefined): EnqueueResult {
    const q = this.#queue(clientId)
    const rec: OutgoingRecord = { seq: ++this.#seq, state: 'queued', message }
    if (subscriptionIds !== undefined && subscriptionIds.length > 0) rec.subscriptionIds = subscriptionIds.slice()
    q.records.set(rec.seq, rec)
    q.queued++
    // nothing is dropped: the broker applies its bound (limits.maxStoredMessages) to this depth
    return { seq: rec.seq, queued: q.queued }
  }

  #delete (q: ClientQueue, rec: OutgoingRecord): void {
    q.records.delete(rec.seq)
    if (rec.state === 'queued') q.queued--
    else if (rec.messageId !== undefined && q.byId.get(rec.messageId) === rec.seq) q.byId.delete(rec.messageId)
  }

  async enqueue (clientId: string, message: StoredMessage, subscriptionIds?: number[], sent?: OutgoingUpdate): Promise<EnqueueResult> {
    this.#check()
    if (sent === undefined) return this.#append(clientId, copyMessage(message), subscriptionIds)
    const q = this.#queue(clientId)
    const rec: OutgoingRecord = { seq: ++this.#seq, messageId: sent.messageId, state: sent.state, message: copyMessage(message) }
    if (subscriptionIds !== undefined && subscriptionIds.length > 0) rec.subscriptionIds = subscriptionIds.slice()
    q.records.set(rec.seq, rec)
    q.byId.set(sent.messageId, rec.seq)
    return { seq: rec.seq, queued: 0 }
  }

  async enqueueMany (entries: ReadonlyArray<{ clientId: string, subscriptionIds?: number[] }>, message: StoredMessage): Promise<void> {
    this.#check()
    const copy = copyMessage(message)
    for (const e of entries) this.#append(e.clientId, copy, e.subscriptionIds)
  }

  async updateOutgoing (clientId: string, seq: number, update: OutgoingUpdate): Promise<void> {
    this.#check()
    const q = this.#outgoing.get(clientId)
    const rec = q?.records.get(seq)
    if (q === undefined || rec === undefined) return
    if (rec.state === 'queued') q.queued--
    else if (rec.messageId !== undefined && q.byId.get(rec.messageId) === seq) q.byId.delete(rec.messageId)
    rec.messageId = update.messageId
    rec.state = update.state
    q.byId.set(update.messageId, seq)
  }

  async ackOutgoing (clientId: string, messageId: number): Promise<OutgoingRecord | null> {
    this.#check()
    const q = this.#outgoing.get(clientId)
    const seq = q?.byId.get(messageId)
    if (q === undefined || seq === undefined) return null
    const rec = q.records.get(seq)!
    this.#delete(q, rec)
    return rec
  }

  async removeOutgoing (clientId: string, seq: number): Promise<void> {
    this.#check()
    const q = this.#outgoing.get(clientId)
    const rec = q?.records.get(seq)
    if (q !== undefined && rec !== undefined) this.#delete(q, rec)
  }

  async outgoing (clientId: string, now: number): Promise<OutgoingRecord[]> {
    this.#check()
    const q = this.#outgoing.get(clientId)
    if (q === undefined) return []
    const out: OutgoingRecord[] = []
    for (const r of q.records.values()) {
      // Only records not yet sent expire: once onward delivery started the copy is kept [MQTT-3.3.2-5].
      if (r.state === 'queued' && r.message.expiresAt !== undefined && r.message.expiresAt <= now) {
        this.#delete(q, r)
        continue
      }
      out.push(copyRecord(r))
    }
    return out
  }

  async putIncoming (clientId: string, messageId: number): Promise<void> {
    this.#check()
    let set = this.#incoming.get(clientId)
    if (set === undefined) {
      set = new Set()
      this.#incoming.set(clientId, set)
    }
    set.add(messageId)
  }

  async hasIncoming (clientId: string, messageId: number): Promise<boolean> {
    this.#check()
    return this.#incoming.get(clientId)?.has(messageId) ?? false
  }

  async deleteIncoming (clientId: string, messageId: number): Promise<void> {
    this.#check()
    this.#incoming.get(clientId)?.delete(messageId)
  }

  async putWill (will: WillRecord): Promise<void> {
    this.#check()
    this.#wills.set(will.clientId, copyWill(will, true))
  }

  async getWill (clientId: string): Promise<WillRecord | null> {
    this.#check()
    const w = this.#wills.get(clientId)
    return w === undefined ? null : copyWill(w, false)
  }

  async deleteWill (clientId: string): Promise<void> {
    this.#check()
    this.#wills.delete(clientId)
  }

  async takeWill (clientId: string, nodeId: string): Promise<WillRecord | null> {
    this.#check()
    const w = this.#wills.get(clientId)
    if (w === undefined || w.nodeId !== nodeId) return null
    this.#wills.delete(clientId)
    return w
  }

  async willsOfNode (nodeId: string): Promise<WillRecord[]> {
    this.#check()
    const out: WillRecord[] = []
    for (const w of this.#wills.values()) if (w.nodeId === nodeId) out.push(copyWill(w, false))
    return out
  }

  async claimSession (clientId: string, nodeId: string): Promise<SessionClaim> {
    this.#check()
    const old = this.#owners.get(clientId)
    const epoch = (old?.epoch ?? 0) + 1
    this.#owners.set(clientId, { nodeId, epoch })
    return { epoch, previous: old?.nodeId ?? null }
  }

  async sessionOwner (clientId: string): Promise<SessionOwner | null> {
    this.#check()
    const o = this.#owners.get(clientId)
    return o === undefined ? null : { nodeId: o.nodeId, epoch: o.epoch }
  }

  async close (): Promise<void> {
    this.#check()
    this.#closed = true
  }
}
