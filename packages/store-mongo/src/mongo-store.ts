/**
 * `MongoStore`: a {@link Store} on MongoDB (official driver), shareable by several broker
 * nodes. Correctness relies only on single-document atomicity, unique indexes and ordinary
 * queries: no capped collections, tailable cursors, change streams or transactions.
 *
 * Collections (in the database of the URL, default `culex`; names prefixed by `prefix`):
 * sessions, retained, outgoing, incoming, wills, counters. See README.md for fields and indexes.
 */
import { MongoClient, MongoServerError, type Collection, type Db, type Document, type MongoClientOptions, type WriteConcernSettings } from 'mongodb'
import type {
  EnqueueResult, OutgoingRecord, OutgoingUpdate, SessionClaim, SessionOwner, SessionRecord, Store, StoredMessage,
  StoreOptions, SubscriptionRecord, WillRecord
} from '@culex/broker'
import { messageDoc, messageFrom, willDoc, willFrom } from './codec.ts'
import { MongoStoreError, isMongoStoreError } from './errors.ts'
import { literalPrefix, matches } from '@culex/trie'
import { prefixRegex } from './topic.ts'

/** Options of {@link MongoStore}. */
export interface MongoStoreOptions extends StoreOptions {
  /** `mongodb://…` or `mongodb+srv://…`. The database is `database`, else the URL's. */
  url: string
  /**
   * Database name; wins over the URL's. Default: the URL's, or `culex` when the URL names
   * none (a URL naming `test`, the driver's default, also gets `culex`).
   */
  database?: string
  /** Prefix of the collection names. Default `culex_`. */
  prefix?: string
  /**
   * Write concern of every write. Default `{ w: 'majority', j: true }`: a resolved write is
   * in the journal of a majority of the replica set.
   */
  writeConcern?: WriteConcernSettings
  /** More MongoClient options (TLS, auth, timeouts). */
  client?: MongoClientOptions
}

interface SessionDoc { _id: string, v: 3 | 4 | 5, x: number, e?: number, u?: string, subs: SubscriptionRecord[] }
interface OutDoc { c: string, s: number, st: OutgoingRecord['state'], mid?: number, m: Document, i?: number[], e?: number }

const GLOBAL_SEQ = 'outgoing-seq'

function sessionFrom (d: SessionDoc): SessionRecord {
  const s: SessionRecord = { clientId: d._id, protocolVersion: d.v, expiryInterval: d.x, subscriptions: d.subs.map((x) => subFrom(x)) }
  if (d.e !== undefined && d.e !== null) s.expiresAt = d.e
  if (typeof d.u === 'string') s.username = d.u
  return s
}

function subFrom (x: SubscriptionRecord): SubscriptionRecord {
  const s: SubscriptionRecord = { topic: x.topic, qos: x.qos, nl: x.nl, rap: x.rap, rh: x.rh }
  if (x.subscriptionId !== undefined && x.subscriptionId !== null) s.subscriptionId = x.subscriptionId
  return s
}

function outFrom (d: OutDoc): OutgoingRecord {
  const r: OutgoingRecord = { seq: d.s, state: d.st, message: messageFrom(d.m) }
  if (d.mid !== undefined && d.mid !== null) r.messageId = d.mid
  if (d.i !== undefined && d.i !== null) r.subscriptionIds = d.i
  return r
}

/**
 * A {@link Store} on MongoDB.
 *
 * @example
 * ```ts
 * import { Broker } from '@culex/broker'
 * import { MongoStore } from '@culex/store-mongo'
 * const store = new MongoStore({ url: 'mongodb://127.0.0.1:27017/culex' })
 * await store.open()
 * const broker = new Broker({ store })
 * ```
 */
export class MongoStore implements Store {
  readonly #client: MongoClient
  readonly #dbName: string | undefined
  readonly #prefix: string
  #db: Db | null = null
  #opening: Promise<void> | null = null
  #closed = false
  #sessions!: Collection<SessionDoc>
  #retained!: Collection<Document>
  #outgoing!: Collection<OutDoc>
  #incoming!: Collection<Document>
  #wills!: Collection<Document>
  #counters!: Collection<{ _id: string, n: number }>
  #owners!: Collection<{ _id: string, n: string, e: number }>

  /**
   * @param opts - `url` (required), `database`, `prefix` (default `culex_`), `writeConcern`
   *   (default majority + journal), `client`
   */
  constructor (opts: MongoStoreOptions) {
    this.#client = new MongoClient(opts.url, {
      promoteBuffers: true,
      ignoreUndefined: true,
      serverSelectionTimeoutMS: 5000,
      writeConcern: opts.writeConcern ?? { w: 'majority', j: true },
      ...opts.client
    })
    this.#dbName = opts.database
    this.#prefix = opts.prefix ?? 'culex_'
  }

  /**
   * Connect and create the indexes. Called implicitly by the first operation.
   *
   * @throws MongoStoreError STORE_MONGO_ERR_UNAVAILABLE
   */
  open (): Promise<void> {
    this.#opening ??= this.#connect().catch((err: unknown) => {
      this.#opening = null
      throw this.#wrap('connecting', err)
    })
    return this.#opening
  }

  async #connect (): Promise<void> {
    await this.#client.connect()
    const db = this.#client.db(this.#dbName ?? (this.#client.options.dbName === 'test' ? 'culex' : this.#client.options.dbName))
    this.#db = db
    const p = this.#prefix
    this.#sessions = db.collection<SessionDoc>(`${p}sessions`)
    this.#retained = db.collection(`${p}retained`)
    this.#outgoing = db.collection<OutDoc>(`${p}outgoing`)
    this.#incoming = db.collection(`${p}incoming`)
    this.#wills = db.collection(`${p}wills`)
    this.#counters = db.collection<{ _id: string, n: number }>(`${p}counters`)
    this.#owners = db.collection<{ _id: string, n: string, e: number }>(`${p}owners`)
    // one createIndexes per collection: concurrent commands on a collection that does not exist
    // yet would each try to create it
    await Promise.all([
      this.#sessions.createIndex({ e: 1 }, { sparse: true }),
      this.#outgoing.createIndexes([
        { key: { c: 1, s: 1 }, unique: true },
        { key: { c: 1, st: 1, s: 1 } },
        { key: { c: 1, mid: 1 }, sparse: true }
      ]),
      this.#incoming.createIndex({ c: 1, i: 1 }, { unique: true }),
      this.#wills.createIndex({ n: 1 })
    ])
  }

  #wrap (what: string, err: unknown): Error {
    if (isMongoStoreError(err)) return err
    return new MongoStoreError('STORE_MONGO_ERR_UNAVAILABLE', `MongoStore: ${what} failed: ${(err as Error).message}`, { cause: err })
  }

  async #run<T> (what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new MongoStoreError('STORE_MONGO_ERR_CLOSED', `MongoStore: ${what} after close()`)
    await this.open()
    try {
      return await fn()
    } catch (err) {
      throw this.#wrap(what, err)
    }
  }

  // ───────── sessions ─────────

  getSession (clientId: string): Promise<SessionRecord | null> {
    return this.#run('getSession', async () => {
      const d = await this.#sessions.findOne({ _id: clientId })
      if (d === null || (d.e !== undefined && d.e !== null && d.e <= Date.now())) return null
      return sessionFrom(d)
    })
  }

  saveSession (session: SessionRecord): Promise<void> {
    return this.#run('saveSession', async () => {
      const d: SessionDoc = { _id: session.clientId, v: session.protocolVersion, x: session.expiryInterval, subs: session.subscriptions.map(subFrom) }
      if (session.expiresAt !== undefined) d.e = session.expiresAt
      if (session.username !== undefined) d.u = session.username
      await this.#sessions.replaceOne({ _id: session.clientId }, d, { upsert: true })
    })
  }

  deleteSession (clientId: string): Promise<void> {
    return this.#run('deleteSession', async () => { await this.#drop(clientId) })
  }

  async #drop (clientId: string): Promise<void> {
    await this.#sessions.deleteOne({ _id: clientId })
    await Promise.all([this.#outgoing.deleteMany({ c: clientId }), this.#incoming.deleteMany({ c: clientId })])
  }

  addSubscriptions (clientId: string, subs: SubscriptionRecord[]): Promise<void> {
    return this.#run('addSubscriptions', async () => {
      if (subs.length === 0) return
      // a filter given twice in one call: the last record wins, as a replace by filter would do
      const clean = [...new Map(subs.map((s) => [s.topic, subFrom(s)])).values()]
      const topics = clean.map((s) => s.topic)
      // one atomic update: drop the replaced filters, append the new records
      await this.#sessions.updateOne({ _id: clientId }, [{
        $set: { subs: { $concatArrays: [{ $filter: { input: '$subs', cond: { $not: [{ $in: ['$$this.topic', { $literal: topics }] }] } } }, { $literal: clean }] } }
      }])
    })
  }

  removeSubscriptions (clientId: string, topics: string[]): Promise<boolean[]> {
    return this.#run('removeSubscriptions', async () => {
      if (topics.length === 0) return []
      const before = await this.#sessions.findOneAndUpdate({ _id: clientId }, [{
        $set: { subs: { $filter: { input: '$subs', cond: { $not: [{ $in: ['$$this.topic', { $literal: topics }] }] } } } }
      }], { returnDocument: 'before' })
      const had = new Set(before === null ? [] : before.subs.map((s) => s.topic))
      return topics.map((t) => had.delete(t))
    })
  }

  async * sessions (): AsyncIterable<SessionRecord> {
    await this.#run('sessions', async () => {})
    const now = Date.now()
    const cursor = this.#sessions.find({ $or: [{ e: { $exists: false } }, { e: { $gt: now } }] })
    try {
      for await (const d of cursor) yield sessionFrom(d)
    } catch (err) {
      throw this.#wrap('sessions', err)
    }
  }

  setSessionExpiry (clientId: string, expiresAt: number | undefined): Promise<void> {
    return this.#run('setSessionExpiry', async () => {
      await this.#sessions.updateOne({ _id: clientId }, expiresAt === undefined ? { $unset: { e: '' } } : { $set: { e: expiresAt } })
    })
  }

  expireSessions (now: number): Promise<string[]> {
    return this.#run('expireSessions', async () => {
      const due = await this.#sessions.find({ e: { $lte: now } }, { projection: { _id: 1 } }).toArray()
      const gone: string[] = []
      for (const d of due) {
        // deleted only if still expired: another node may have resumed it meanwhile
        const r = await this.#sessions.deleteOne({ _id: d._id, e: { $lte: now } })
        if (r.deletedCount === 1) {
          gone.push(d._id)
          await Promise.all([this.#outgoing.deleteMany({ c: d._id }), this.#incoming.deleteMany({ c: d._id })])
        }
      }
      return gone
    })
  }

  // ───────── retained ─────────

  putRetained (message: StoredMessage): Promise<void> {
    return this.#run('putRetained', async () => {
      if (message.payload.length === 0) await this.#retained.deleteOne({ _id: message.topic as unknown as Document['_id'] })
      else await this.#retained.replaceOne({ _id: message.topic as unknown as Document['_id'] }, { m: messageDoc(message) }, { upsert: true })
    })
  }

  matchRetained (filter: string): Promise<StoredMessage[]> {
    return this.#run('matchRetained', async () => {
      const prefix = literalPrefix(filter)
      const docs = prefix === null
        ? await this.#retained.find({ _id: filter as unknown as Document['_id'] }).toArray()
        : await this.#retained.find(prefix === '' ? {} : { _id: prefixRegex(prefix) as unknown as Document['_id'] }).toArray()
      const byTopic = new Map<string, Document>()
      for (const d of docs) byTopic.set(d._id as unknown as string, d)
      const topics = prefix === null ? [...byTopic.keys()] : [...byTopic.keys()].filter((t) => matches(filter, t))
      const now = Date.now()
      const out: StoredMessage[] = []
      for (const t of topics) {
        const m = messageFrom(byTopic.get(t)!.m as Record<string, unknown>)
        if (m.expiresAt !== undefined && m.expiresAt <= now) {
          await this.#retained.deleteOne({ _id: t as unknown as Document['_id'], 'm.e': m.expiresAt })
          continue
        }
        out.push(m)
      }
      return out
    })
  }

  countRetained (): Promise<number> {
    return this.#run('countRetained', async () => await this.#retained.countDocuments())
  }

  // ───────── outgoing ─────────

  /** Reserve `n` consecutive seqs from the one global counter; returns the first. */
  async #seqs (n: number): Promise<number> {
    const inc = async (): Promise<number> => {
      const d = await this.#counters.findOneAndUpdate({ _id: GLOBAL_SEQ }, { $inc: { n } }, { upsert: true, returnDocument: 'after' })
      return d!.n - n + 1
    }
    try {
      return await inc()
    } catch (err) {
      // Concurrent first upserts of the counter: the losers get E11000 unless the server
      // retries findAndModify upserts itself (not all supported versions do). The document
      // exists now, so once more is an ordinary $inc.
      if (err instanceof MongoServerError && err.code === 11000) return await inc()
      throw err
    }
  }

  /** The number of queued records of a client (nothing is dropped: the broker applies its bound). */
  async #depth (clientId: string): Promise<number> {
    return await this.#outgoing.countDocuments({ c: clientId, st: 'queued' })
  }

  #doc (clientId: string, seq: number, m: Document, message: StoredMessage, ids: number[] | undefined): OutDoc {
    const d: OutDoc = { c: clientId, s: seq, st: 'queued', m }
    if (ids !== undefined && ids.length > 0) d.i = ids
    if (message.expiresAt !== undefined) d.e = message.expiresAt
    return d
  }

  enqueue (clientId: string, message: StoredMessage, subscriptionIds?: number[], sent?: OutgoingUpdate): Promise<EnqueueResult> {
    return this.#run('enqueue', async () => {
      const seq = await this.#seqs(1)
      const d = this.#doc(clientId, seq, messageDoc(message), message, subscriptionIds)
      if (sent === undefined) {
        await this.#outgoing.insertOne(d)
        return { seq, queued: await this.#depth(clientId) }
      }
      // sent already: one document with its state and packet id; not queued, so not counted
      d.st = sent.state
      d.mid = sent.messageId
      await this.#outgoing.insertOne(d)
      return { seq, queued: 0 }
    })
  }

  enqueueMany (entries: ReadonlyArray<{ clientId: string, subscriptionIds?: number[] }>, message: StoredMessage): Promise<void> {
    return this.#run('enqueueMany', async () => {
      if (entries.length === 0) return
      const first = await this.#seqs(entries.length)
      const m = messageDoc(message)
      await this.#outgoing.insertMany(entries.map((e, i) => this.#doc(e.clientId, first + i, m, message, e.subscriptionIds)), { ordered: false })
    })
  }

  updateOutgoing (clientId: string, seq: number, update: OutgoingUpdate): Promise<void> {
    return this.#run('updateOutgoing', async () => {
      await this.#outgoing.updateOne({ c: clientId, s: seq }, { $set: { st: update.state, mid: update.messageId } })
    })
  }

  ackOutgoing (clientId: string, messageId: number): Promise<OutgoingRecord | null> {
    return this.#run('ackOutgoing', async () => {
      const d = await this.#outgoing.findOneAndDelete({ c: clientId, mid: messageId, st: { $ne: 'queued' } }, { sort: { s: 1 } })
      return d === null ? null : outFrom(d)
    })
  }

  removeOutgoing (clientId: string, seq: number): Promise<void> {
    return this.#run('removeOutgoing', async () => { await this.#outgoing.deleteOne({ c: clientId, s: seq }) })
  }

  outgoing (clientId: string, now: number): Promise<OutgoingRecord[]> {
    return this.#run('outgoing', async () => {
      // only records not yet sent expire; inflight ones are kept [MQTT-3.3.2-5]
      await this.#outgoing.deleteMany({ c: clientId, st: 'queued', e: { $lte: now } })
      const docs = await this.#outgoing.find({ c: clientId }).sort({ s: 1 }).toArray()
      return docs.map(outFrom)
    })
  }

  // ───────── incoming QoS 2 ─────────

  putIncoming (clientId: string, messageId: number): Promise<void> {
    return this.#run('putIncoming', async () => {
      await this.#incoming.updateOne({ c: clientId, i: messageId }, { $set: { c: clientId, i: messageId } }, { upsert: true })
    })
  }

  hasIncoming (clientId: string, messageId: number): Promise<boolean> {
    return this.#run('hasIncoming', async () => (await this.#incoming.findOne({ c: clientId, i: messageId })) !== null)
  }

  deleteIncoming (clientId: string, messageId: number): Promise<void> {
    return this.#run('deleteIncoming', async () => { await this.#incoming.deleteOne({ c: clientId, i: messageId }) })
  }

  // ───────── wills ─────────

  putWill (will: WillRecord): Promise<void> {
    return this.#run('putWill', async () => {
      await this.#wills.replaceOne({ _id: will.clientId as unknown as Document['_id'] }, willDoc(will), { upsert: true })
    })
  }

  getWill (clientId: string): Promise<WillRecord | null> {
    return this.#run('getWill', async () => {
      const d = await this.#wills.findOne({ _id: clientId as unknown as Document['_id'] })
      return d === null ? null : willFrom(d)
    })
  }

  deleteWill (clientId: string): Promise<void> {
    return this.#run('deleteWill', async () => { await this.#wills.deleteOne({ _id: clientId as unknown as Document['_id'] }) })
  }

  willsOfNode (nodeId: string): Promise<WillRecord[]> {
    return this.#run('willsOfNode', async () => (await this.#wills.find({ n: nodeId }).toArray()).map((d) => willFrom(d)))
  }

  /** One findOneAndUpdate ($inc of the epoch, upsert): atomic on one document. */
  claimSession (clientId: string, nodeId: string): Promise<SessionClaim> {
    return this.#run('claimSession', async () => {
      const before = await this.#owners.findOneAndUpdate({ _id: clientId }, { $inc: { e: 1 }, $set: { n: nodeId } }, { upsert: true, returnDocument: 'before' })
      return { epoch: (before?.e ?? 0) + 1, previous: before?.n ?? null }
    })
  }

  sessionOwner (clientId: string): Promise<SessionOwner | null> {
    return this.#run('sessionOwner', async () => {
      const d = await this.#owners.findOne({ _id: clientId })
      return d === null ? null : { nodeId: d.n, epoch: d.e }
    })
  }

  /** The database in use (after `open`), e.g. for dropping it in tests. */
  get db (): Db | null {
    return this.#db
  }

  /** Close the client. Further calls reject (STORE_MONGO_ERR_CLOSED). */
  async close (): Promise<void> {
    if (this.#closed) throw new MongoStoreError('STORE_MONGO_ERR_CLOSED', 'MongoStore: close() after close()')
    this.#closed = true
    await this.#client.close()
  }
}
