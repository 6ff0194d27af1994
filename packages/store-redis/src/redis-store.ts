/**
 * `RedisStore`: a {@link Store} on Redis (ioredis), shared by every broker node of a
 * cluster. Each broker operation is one round trip (a Lua script on one client's keys, or
 * one command), except where noted: `matchRetained` with wildcards (2), `sessions()` (one
 * per 100 sessions), `deleteWill` and `putWill` (2), `willsOfNode` (2), `takeWill` (3). Queue operations
 * (`enqueue`, `enqueueMany`, `updateOutgoing`, `removeOutgoing`) issued in one tick are
 * batched: one OPS script call per client, all written in one socket write, so a fan-out to N
 * offline sessions costs one round trip of latency and N script calls, not N round trips.
 *
 * Key layout: see README.md and scripts.ts. Every key of one client carries the hash tag
 * `{clientId}`; retained messages share the tag `{retained}`; the indexes of sessions, of
 * session expiry and of wills per node are single keys. Index entries are written before the
 * data they point to and removed after it, so an index may briefly name a missing record
 * (readers skip it), never the other way round.
 *
 * On a Redis Cluster (`cluster` option or `redis+cluster://` URL) the client is an ioredis
 * `Cluster`: every script and multi-key command stays in one slot, queue batches are still
 * sent once per tick (there is no single socket to cork), and the retained cache subscribes
 * on the master of the `{retained}` slot (see #subOnOwner).
 */
import type { Cluster, Redis } from 'ioredis'
import type {
  EnqueueResult, OutgoingRecord, OutgoingUpdate, SessionClaim, SessionOwner, SessionRecord, Store, StoredMessage,
  StoreOptions, SubscriptionRecord, WillRecord
} from '@culex/broker'
import { decodeMessage, decodeOutgoing, decodeWill, encodeMessage, encodeOutgoing, encodeWill } from './codec.ts'
import { createClient, createNodeRedis, createRedis, describeCluster, type RedisClient, type RedisConnectionOptions } from './connection.ts'
import { RedisStoreError, isRedisStoreError } from './errors.ts'
import { RetainedIndex } from '@culex/trie'
import { literalPrefix, matches } from '@culex/trie'
import * as lua from './scripts.ts'

/** Compare-and-delete of a will (KEYS[1] its key, ARGV[1] the bytes read): 1 if deleted. */
const TAKE_WILL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions extends StoreOptions, RedisConnectionOptions {
  /** Prefix of every key. Default `culex:`. Stores with different prefixes share nothing. */
  prefix?: string
  /**
   * Keep a copy of every retained message in memory, kept current through Redis pub/sub, so a
   * wildcard SUBSCRIBE costs one round trip instead of reading every match from Redis.
   * Default `true`. Uses a second Redis connection (subscriber). See README "Retained cache".
   */
  cacheRetained?: boolean
}

/** A cached retained message and the record it was decoded from (for the expiry check-and-delete). */
interface CachedRetained { m: StoredMessage, raw: Buffer }

type Cmd = (...args: Array<string | Buffer | number>) => Promise<unknown>

const SCRIPTS = {
  culexOps: [9, lua.OPS],
  culexAck: [9, lua.ACK],
  culexOutgoing: [9, lua.OUTGOING],
  culexSaveSession: [1, lua.SAVE_SESSION],
  culexAddSubs: [1, lua.ADD_SUBS],
  culexRemoveSubs: [1, lua.REMOVE_SUBS],
  culexSetExpiry: [1, lua.SET_EXPIRY],
  culexClaim: [1, lua.CLAIM],
  culexDrop: [9, lua.DROP],
  culexDropIfExpired: [9, lua.DROP_IF_EXPIRED],
  culexPutRetained: [2, lua.PUT_RETAINED],
  culexDelRetainedIf: [2, lua.DEL_RETAINED_IF]
} as const

type Scripts = { [K in keyof typeof SCRIPTS]: Cmd } & { [K in keyof typeof SCRIPTS as `${K}Buffer`]: Cmd }

const EXPIRES = '\u0000e'

/**
 * The hash tag of a client id. Redis hashes the whole key when the tag is empty (`{}`), which
 * would spread the client's keys over several Cluster slots: that happens for the empty id
 * and for ids starting with `}`. Those (and, to keep the mapping one-to-one, ids starting
 * with NUL, which MQTT forbids anyway [MQTT-1.5.4-2]) get a NUL in front.
 */
function tagOf (c: string): string {
  const first = c.charCodeAt(0)
  return c === '' || first === 0x7d || first === 0 ? `\u0000${c}` : c
}

interface SessionMeta { v: 3 | 4 | 5, x: number, u?: string }

/** One queued operation of a client batch: how many results it takes, and its promise. */
interface OpWaiter { what: string, results: 1 | 2, resolve: (r: number[]) => void, reject: (err: Error) => void }

/** The operations issued for one client in this turn of the event loop (see #op). */
interface ClientBatch { args: Array<string | Buffer | number>, waiters: OpWaiter[] }

/** Most operations in one OPS script call; more start another call. */
const MAX_BATCH = 256

/**
 * A {@link Store} on Redis.
 *
 * @example
 * ```ts
 * import { Broker } from '@culex/broker'
 * import { RedisStore } from '@culex/store-redis'
 * const store = new RedisStore({ url: 'redis://localhost:6379' })
 * await store.open()
 * const broker = new Broker({ store })
 * ```
 */
export class RedisStore implements Store {
  readonly #r: RedisClient
  /** The same client when it is a Cluster, else null. */
  readonly #cluster: Cluster | null
  readonly #opts: RedisConnectionOptions
  readonly #s: Scripts
  readonly #p: string
  readonly #where: string
  #opening: Promise<void> | null = null
  #open = false
  #closed = false
  /** The socket is corked until the next tick (see #cork). */
  #corked = false
  /** Queue operations not yet sent, per client (see #op). */
  #batches = new Map<string, ClientBatch>()
  /** The retained cache (null when cacheRetained is false) and its subscriber connection. */
  #cache: RetainedIndex<CachedRetained> | null
  #sub: Redis | null
  /** On a Cluster: the slot of the retained keys, and the node (`host:port`) #sub is on. */
  #retainedSlot = -1
  #subNode = ''
  /** 'ready': the cache mirrors Redis; 'stale' (loading, or the subscriber is away): matchRetained reads Redis. */
  #cacheState: 'off' | 'stale' | 'ready' = 'off'
  /** Notes received while the cache loads, applied after the load, in order. */
  #notes: Buffer[] | null = null
  #loadGen = 0

  /**
   * @param opts - connection (`url`, `redis`, `password`, `tls`, `cluster`, `commandTimeout`
   *   default 5000 ms), `prefix` (default `culex:`)
   * @throws RedisStoreError STORE_REDIS_ERR_OPTIONS (a malformed cluster URL or `cluster`
   *   option, or a prefix with `{` or `}` on a Cluster)
   */
  constructor (opts: RedisStoreOptions = {}) {
    const cluster = describeCluster(opts)
    this.#p = opts.prefix ?? 'culex:'
    // a brace in the prefix would make it (or an empty `{}`) the hash tag of every key
    if (cluster !== null && /[{}]/.test(this.#p)) throw new RedisStoreError('STORE_REDIS_ERR_OPTIONS', `RedisStore: option prefix: expected no { or } on a Redis Cluster (the client id is the hash tag), got ${JSON.stringify(this.#p)}`)
    this.#opts = opts
    this.#r = createClient(opts)
    this.#cluster = cluster === null ? null : this.#r as Cluster
    for (const [name, [numberOfKeys, source]] of Object.entries(SCRIPTS)) this.#r.defineCommand(name, { numberOfKeys, lua: source })
    this.#s = this.#r as unknown as Scripts
    const r = this.#r as Redis
    this.#where = cluster ?? `${r.options.host ?? '?'}:${r.options.port ?? '?'}`
    // errors surface on the commands; ioredis would otherwise print unhandled 'error' events
    this.#r.on('error', () => {})
    if (opts.cacheRetained === false) {
      this.#cache = null
      this.#sub = null
    } else {
      this.#cache = new RetainedIndex<CachedRetained>()
      // on a Cluster the subscriber is created at open, on the node of the retained slot
      this.#sub = cluster === null ? this.#subscriber(createRedis(opts, { maxRetriesPerRequest: null })) : null
    }
  }

  /** Listen on a subscriber connection of the retained cache; events of a replaced one are ignored. */
  #subscriber (sub: Redis): Redis {
    sub.on('error', () => {})
    sub.on('messageBuffer', (_channel: Buffer, note: Buffer) => { if (this.#sub === sub) this.#note(note) })
    // while the subscriber is away changes are missed: stop trusting the cache, and load it
    // again once the subscription is back
    sub.on('close', () => { if (this.#sub === sub && this.#cacheState === 'ready') this.#cacheState = 'stale' })
    sub.on('ready', () => {
      if (this.#sub !== sub || this.#cacheState === 'off' || this.#closed) return
      sub.subscribe(this.#channel).then(async () => { await this.#loadCache() }, () => {})
    })
    return sub
  }

  /** A subscriber on the Cluster node `host:port`. */
  #nodeSubscriber (node: string): Redis {
    this.#subNode = node
    const at = node.lastIndexOf(':')
    return this.#subscriber(createNodeRedis(this.#opts, { host: node.slice(0, at), port: Number(node.slice(at + 1)) }, { maxRetriesPerRequest: null }))
  }

  /**
   * On a Cluster, whether the subscriber is on the master of the retained slot. The scripts
   * that change a retained message PUBLISH on that node; other nodes get the note later over
   * the cluster bus, so only there does the PING barrier of #matchCached hold. When the slot
   * has moved (failover, resharding: ioredis learns it from MOVED), the subscriber moves too
   * and the cache is reloaded; until then matchRetained reads Redis.
   */
  #subOnOwner (): boolean {
    const owner = this.#cluster!.slots[this.#retainedSlot]?.[0]
    if (owner === this.#subNode) return true
    if (owner !== undefined) {
      const old = this.#sub!
      this.#cacheState = 'stale'
      this.#notes = null
      this.#loadGen++ // a load in flight on the old subscriber is dropped
      this.#sub = this.#nodeSubscriber(owner)
      old.disconnect()
      // its 'ready' subscribes and loads the cache
      this.#sub.connect().catch(() => {})
    }
    return false
  }

  get #channel (): string { return `${this.#p}retained` }

  /** Apply one change note (`topic \0 record`, empty record = deleted) to the cache. */
  #note (note: Buffer): void {
    if (this.#notes !== null) {
      this.#notes.push(note)
      return
    }
    const cache = this.#cache!
    const at = note.indexOf(0)
    if (at < 0) return
    const topic = note.toString('utf8', 0, at)
    if (at === note.length - 1) {
      cache.delete(topic)
      return
    }
    const raw = note.subarray(at + 1)
    try {
      cache.set(topic, { m: decodeMessage(raw, `${this.#kRetained[0]} ${topic}`), raw })
    } catch {
      // a record that does not decode stays out of the cache; reading it from Redis reports it
      cache.delete(topic)
    }
  }

  /**
   * (Re)load the cache: notes that arrive meanwhile are held back and applied afterwards in
   * order, so the result is Redis's state even with writes during the load. Until it is
   * done, matchRetained reads Redis.
   */
  #loadCache (): Promise<void> {
    const gen = ++this.#loadGen
    this.#cacheState = 'stale'
    this.#notes = []
    const fresh = new RetainedIndex<CachedRetained>()
    const run = async (): Promise<void> => {
      let cursor = '0'
      do {
        const [next, flat] = await this.#r.hscanBuffer(this.#kRetained[0], cursor, 'COUNT', 1000)
        cursor = next.toString()
        for (let i = 0; i < flat.length; i += 2) {
          const topic = flat[i]!.toString()
          const raw = flat[i + 1]!
          try {
            fresh.set(topic, { m: decodeMessage(raw, `${this.#kRetained[0]} ${topic}`), raw })
          } catch {}
        }
      } while (cursor !== '0')
    }
    return run().then(() => {
      if (gen !== this.#loadGen) return
      this.#cache = fresh
      const held = this.#notes!
      this.#notes = null
      for (const n of held) this.#note(n)
      this.#cacheState = 'ready'
    }, () => {
      // Redis went away during the load: the next 'ready' of the subscriber loads again
      if (gen === this.#loadGen) this.#notes = null
    })
  }

  /**
   * Connect. Called implicitly by the first operation.
   *
   * @throws RedisStoreError STORE_REDIS_ERR_UNAVAILABLE
   */
  open (): Promise<void> {
    this.#opening ??= this.#r.connect().then(async () => {
      this.#open = true
      if (this.#cache !== null) {
        if (this.#cluster !== null) {
          this.#retainedSlot = await this.#cluster.cluster('KEYSLOT', this.#kRetained[0])
          const owner = this.#cluster.slots[this.#retainedSlot]?.[0]
          if (owner === undefined) throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisStore: connecting at ${this.#where} failed: no node serves slot ${this.#retainedSlot} (of ${this.#kRetained[0]})`)
          this.#sub = this.#nodeSubscriber(owner)
        }
        this.#sub = this.#sub!
        await this.#sub.connect()
        await this.#sub.subscribe(this.#channel)
        await this.#loadCache()
      }
    }, (err: unknown) => {
      this.#opening = null
      throw this.#wrap('connecting', err)
    })
    return this.#opening
  }

  #wrap (what: string, err: unknown): Error {
    if (isRedisStoreError(err)) return err
    return new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisStore: ${what} at ${this.#where} failed: ${(err as Error).message}`, { cause: err })
  }

  /**
   * Commands issued in one tick leave in one socket write: the socket is corked at the first
   * command and uncorked on the next tick. Without it ioredis writes every command on its own,
   * and those writes were the largest cost of a QoS 1 enqueue in a profile of the broker (a
   * third of its CPU). ioredis's own auto-pipelining is not used: see connection.ts.
   */
  #cork (): void {
    if (this.#corked) return
    if (this.#cluster !== null) {
      // one socket per node and no `stream` to cork; the batches still leave once per tick
      this.#corked = true
      process.nextTick(() => {
        this.#flush()
        this.#corked = false
      })
      return
    }
    const stream = (this.#r as Redis).stream as { cork?: () => void, uncork?: () => void } | undefined
    if (stream === undefined || typeof stream.cork !== 'function') return
    this.#corked = true
    stream.cork()
    process.nextTick(() => {
      this.#flush()
      this.#corked = false
      stream.uncork!()
    })
  }

  /**
   * Queue operations (enqueue, update, remove) are batched per client: those issued in one
   * tick go to Redis as one OPS script call, applied in order. A script call costs Redis about
   * 7 µs however little it does; the broker issues one operation per message, so batching is
   * what lets Redis keep up (INFO commandstats: 150,000 EVALSHA for 50,000 queued and drained
   * messages before, about 7 µs each). Any other command flushes the batches first, so
   * commands still reach Redis in the order they were issued.
   */
  #op (what: string, clientId: string, results: 1 | 2, args: Array<string | Buffer | number>): Promise<number[]> {
    return new Promise((resolve, reject) => {
      let b = this.#batches.get(clientId)
      if (b !== undefined && b.waiters.length >= MAX_BATCH) {
        this.#send(clientId, b)
        b = undefined
      }
      if (b === undefined) {
        b = { args: [0], waiters: [] } // ARGV[1]: a former queue bound, unused
        this.#batches.set(clientId, b)
      }
      for (const a of args) b.args.push(a)
      b.waiters.push({ what, results, resolve, reject })
      if (!this.#corked) this.#cork()
      // not connected yet (no socket to cork): flush on the next tick anyway
      if (!this.#corked) process.nextTick(() => { this.#flush() })
    })
  }

  /** Send every pending client batch. */
  #flush (): void {
    if (this.#batches.size === 0) return
    const batches = this.#batches
    this.#batches = new Map()
    for (const [clientId, b] of batches) this.#send(clientId, b)
  }

  #send (clientId: string, b: ClientBatch): void {
    if (this.#batches.get(clientId) === b) this.#batches.delete(clientId)
    this.#s.culexOps(...this.#ck(clientId), ...b.args).then((r) => {
      const flat = r as number[]
      let at = 0
      for (const w of b.waiters) {
        w.resolve(flat.slice(at, at + w.results))
        at += w.results
      }
    }, (err: unknown) => {
      const others = b.waiters.length - 1
      for (const w of b.waiters) {
        w.reject(this.#wrap(others === 0 ? w.what : `${w.what} (batched with ${others} other queue operations of client ${JSON.stringify(clientId)})`, err))
      }
    })
  }

  async #run<T> (what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisStore: ${what} after close()`)
    if (this.#open) {
      this.#cork()
      this.#flush()
    } else {
      await this.open()
    }
    try {
      return await fn()
    } catch (err) {
      throw this.#wrap(what, err)
    }
  }

  #ck (c: string): string[] {
    const t = `${this.#p}{${tagOf(c)}}:`
    return [`${t}s`, `${t}r`, `${t}st`, `${t}q`, `${t}qq`, `${t}ex`, `${t}mid`, `${t}in`, `${t}n`]
  }

  get #kSessions (): string { return `${this.#p}sessions` }
  get #kExpiry (): string { return `${this.#p}expiry` }
  get #kRetained (): [string, string] { return [`${this.#p}{retained}:m`, `${this.#p}{retained}:t`] }
  #kWill (c: string): string { return `${this.#p}{${tagOf(c)}}:w` }
  #kOwner (c: string): string { return `${this.#p}{${tagOf(c)}}:o` }
  #kNodeWills (n: string): string { return `${this.#p}wills:${n}` }

  // ───────── sessions ─────────

  #decodeSession (clientId: string, h: Record<string, string>, now: number): SessionRecord | null {
    const metaRaw = h['']
    if (metaRaw === undefined) return null
    const meta = JSON.parse(metaRaw) as SessionMeta
    const s: SessionRecord = { clientId, protocolVersion: meta.v, expiryInterval: meta.x, subscriptions: [] }
    if (typeof meta.u === 'string') s.username = meta.u
    for (const k of Object.keys(h)) {
      if (k === '') continue
      if (k === EXPIRES) s.expiresAt = Number(h[k])
      else s.subscriptions.push(JSON.parse(h[k]!) as SubscriptionRecord)
    }
    if (s.expiresAt !== undefined && s.expiresAt <= now) return null
    return s
  }

  getSession (clientId: string): Promise<SessionRecord | null> {
    return this.#run('getSession', async () => this.#decodeSession(clientId, await this.#r.hgetall(this.#ck(clientId)[0]!), Date.now()))
  }

  saveSession (session: SessionRecord): Promise<void> {
    return this.#run('saveSession', async () => {
      const c = session.clientId
      const meta: SessionMeta = { v: session.protocolVersion, x: session.expiryInterval }
      if (session.username !== undefined) meta.u = session.username
      const args: string[] = [JSON.stringify(meta)]
      if (session.expiresAt !== undefined) args.push(EXPIRES, String(session.expiresAt))
      for (const sub of session.subscriptions) args.push(sub.topic, JSON.stringify(sub))
      await Promise.all([
        this.#r.sadd(this.#kSessions, c),
        session.expiresAt === undefined ? null : this.#r.zadd(this.#kExpiry, session.expiresAt, c)
      ])
      await this.#s.culexSaveSession(this.#ck(c)[0]!, ...args)
      if (session.expiresAt === undefined) await this.#r.zrem(this.#kExpiry, c)
    })
  }

  deleteSession (clientId: string): Promise<void> {
    return this.#run('deleteSession', async () => {
      await this.#s.culexDrop(...this.#ck(clientId))
      await Promise.all([this.#r.srem(this.#kSessions, clientId), this.#r.zrem(this.#kExpiry, clientId)])
    })
  }

  addSubscriptions (clientId: string, subs: SubscriptionRecord[]): Promise<void> {
    return this.#run('addSubscriptions', async () => {
      if (subs.length === 0) return
      const args: string[] = []
      for (const sub of subs) args.push(sub.topic, JSON.stringify(sub))
      await this.#s.culexAddSubs(this.#ck(clientId)[0]!, ...args)
    })
  }

  removeSubscriptions (clientId: string, topics: string[]): Promise<boolean[]> {
    return this.#run('removeSubscriptions', async () => {
      if (topics.length === 0) return []
      const r = await this.#s.culexRemoveSubs(this.#ck(clientId)[0]!, ...topics) as number[]
      return r.map((x) => x === 1)
    })
  }

  async * sessions (): AsyncIterable<SessionRecord> {
    let cursor = '0'
    do {
      const [next, ids] = await this.#run('sessions', async () => await this.#r.sscan(this.#kSessions, cursor, 'COUNT', 100))
      cursor = next
      const now = Date.now()
      const hashes = await this.#run('sessions', async () => await Promise.all(ids.map(async (c) => await this.#r.hgetall(this.#ck(c)[0]!))))
      for (let i = 0; i < ids.length; i++) {
        const s = this.#decodeSession(ids[i]!, hashes[i]!, now)
        if (s !== null) yield s
      }
    } while (cursor !== '0')
  }

  setSessionExpiry (clientId: string, expiresAt: number | undefined): Promise<void> {
    return this.#run('setSessionExpiry', async () => {
      if (expiresAt !== undefined) await this.#r.zadd(this.#kExpiry, expiresAt, clientId)
      const found = await this.#s.culexSetExpiry(this.#ck(clientId)[0]!, expiresAt === undefined ? '' : String(expiresAt))
      if (expiresAt === undefined || found === 0) await this.#r.zrem(this.#kExpiry, clientId)
    })
  }

  expireSessions (now: number): Promise<string[]> {
    return this.#run('expireSessions', async () => {
      const ids = await this.#r.zrangebyscore(this.#kExpiry, '-inf', now)
      const res = await Promise.all(ids.map(async (c) => await this.#s.culexDropIfExpired(...this.#ck(c), now) as number))
      const gone = ids.filter((_, i) => res[i] === 1)
      // 1: expired and deleted; 2: no such session; 0: its expiry moved on (entry is stale)
      if (ids.length > 0) await this.#r.zrem(this.#kExpiry, ...ids)
      if (gone.length > 0) await this.#r.srem(this.#kSessions, ...gone)
      return gone
    })
  }

  // ───────── retained ─────────

  putRetained (message: StoredMessage): Promise<void> {
    return this.#run('putRetained', async () => {
      await this.#s.culexPutRetained(...this.#kRetained, message.topic, message.payload.length === 0 ? '' : encodeMessage(message), this.#channel)
    })
  }

  matchRetained (filter: string): Promise<StoredMessage[]> {
    return this.#run('matchRetained', async () => {
      if (this.#cacheState === 'ready') {
        const cached = await this.#matchCached(filter)
        if (cached !== null) return cached
      }
      const [hash, index] = this.#kRetained
      let topics: string[]
      const prefix = literalPrefix(filter)
      if (prefix === null) {
        topics = [filter]
      } else {
        const lo = prefix === '' ? '-' : Buffer.from(`[${prefix}`)
        const hi = prefix === '' ? '+' : Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])])
        topics = (await this.#r.zrangebylex(index, lo, hi)).filter((t) => matches(filter, t))
      }
      if (topics.length === 0) return []
      const values = await this.#r.hmgetBuffer(hash, ...topics)
      const now = Date.now()
      const out: StoredMessage[] = []
      const expired: Array<Promise<unknown>> = []
      for (let i = 0; i < topics.length; i++) {
        const v = values[i]
        if (v === null || v === undefined) continue
        const m = decodeMessage(v, `${hash} ${topics[i]!}`)
        if (m.expiresAt !== undefined && m.expiresAt <= now) expired.push(this.#s.culexDelRetainedIf(hash, index, topics[i]!, v, this.#channel))
        else out.push(m)
      }
      await Promise.all(expired)
      return out
    })
  }

  /**
   * From the cache, after a barrier: a PING on the subscriber connection comes back after
   * every change note Redis published before it, so the cache then holds every retained write
   * that completed (on any node) before this call. Null when the subscriber is away: the
   * caller reads Redis instead.
   */
  async #matchCached (filter: string): Promise<StoredMessage[] | null> {
    if (this.#cluster !== null && !this.#subOnOwner()) return null
    try {
      await this.#sub!.ping()
    } catch {
      return null
    }
    if (this.#cacheState !== 'ready') return null
    const now = Date.now()
    const out: StoredMessage[] = []
    const expired: CachedRetained[] = []
    this.#cache!.forEachMatch(filter, (v) => {
      if (v.m.expiresAt !== undefined && v.m.expiresAt <= now) expired.push(v)
      else out.push({ ...v.m })
    })
    if (expired.length > 0) {
      const [hash, index] = this.#kRetained
      await Promise.all(expired.map(async (v) => await this.#s.culexDelRetainedIf(hash, index, v.m.topic, v.raw, this.#channel)))
    }
    return out
  }

  countRetained (): Promise<number> {
    return this.#run('countRetained', async () => await this.#r.hlen(this.#kRetained[0]))
  }

  // ───────── outgoing ─────────

  /**
   * A batched operation: joins the batch at once (synchronously) when connected, so that it
   * stays in issue order with the commands issued after it.
   */
  #queueOp (what: string, clientId: string, results: 1 | 2, args: Array<string | Buffer | number>): Promise<number[]> {
    if (this.#closed) return Promise.reject(new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisStore: ${what} after close()`))
    if (this.#open) return this.#op(what, clientId, results, args)
    return this.open().then(() => this.#op(what, clientId, results, args))
  }

  async enqueue (clientId: string, message: StoredMessage, subscriptionIds?: number[], sent?: OutgoingUpdate): Promise<EnqueueResult> {
    const r = await this.#queueOp('enqueue', clientId, 2, sent === undefined
      ? ['e', encodeOutgoing(message, subscriptionIds), message.expiresAt ?? '']
      : ['s', encodeOutgoing(message, subscriptionIds), sent.messageId, sent.state === 'sent' ? 's' : 'p'])
    return { seq: r[0]!, queued: sent === undefined ? r[1]! : 0 }
  }

  async enqueueMany (entries: ReadonlyArray<{ clientId: string, subscriptionIds?: number[] }>, message: StoredMessage): Promise<void> {
    let plain: Buffer | null = null
    await Promise.all(entries.map(async (e) => {
      const rec = e.subscriptionIds !== undefined && e.subscriptionIds.length > 0
        ? encodeOutgoing(message, e.subscriptionIds)
        : (plain ??= encodeOutgoing(message, undefined))
      await this.#queueOp('enqueueMany', e.clientId, 2, ['e', rec, message.expiresAt ?? ''])
    }))
  }

  async updateOutgoing (clientId: string, seq: number, update: OutgoingUpdate): Promise<void> {
    await this.#queueOp('updateOutgoing', clientId, 1, ['u', seq, update.messageId, update.state === 'sent' ? 's' : 'p'])
  }

  ackOutgoing (clientId: string, messageId: number): Promise<OutgoingRecord | null> {
    return this.#run('ackOutgoing', async () => {
      const r = await this.#s.culexAckBuffer(...this.#ck(clientId), messageId) as [Buffer, Buffer, Buffer] | null
      if (r === null) return null
      const seq = Number(r[0].toString())
      return decodeOutgoing(r[2], `${clientId} ${seq}`, seq, r[1].toString())
    })
  }

  async removeOutgoing (clientId: string, seq: number): Promise<void> {
    await this.#queueOp('removeOutgoing', clientId, 1, ['r', seq])
  }

  outgoing (clientId: string, now: number): Promise<OutgoingRecord[]> {
    return this.#run('outgoing', async () => {
      const flat = await this.#s.culexOutgoingBuffer(...this.#ck(clientId), now) as Buffer[]
      const out: OutgoingRecord[] = []
      for (let i = 0; i < flat.length; i += 3) {
        const seq = Number(flat[i]!.toString())
        if (flat[i + 1]!.length === 0) continue
        out.push(decodeOutgoing(flat[i + 1]!, `${clientId} ${seq}`, seq, flat[i + 2]!.toString()))
      }
      return out
    })
  }

  // ───────── incoming QoS 2 ─────────

  putIncoming (clientId: string, messageId: number): Promise<void> {
    return this.#run('putIncoming', async () => { await this.#r.sadd(this.#ck(clientId)[7]!, messageId) })
  }

  hasIncoming (clientId: string, messageId: number): Promise<boolean> {
    return this.#run('hasIncoming', async () => (await this.#r.sismember(this.#ck(clientId)[7]!, messageId)) === 1)
  }

  deleteIncoming (clientId: string, messageId: number): Promise<void> {
    return this.#run('deleteIncoming', async () => { await this.#r.srem(this.#ck(clientId)[7]!, messageId) })
  }

  // ───────── wills ─────────

  putWill (will: WillRecord): Promise<void> {
    return this.#run('putWill', async () => {
      await this.#r.sadd(this.#kNodeWills(will.nodeId), will.clientId)
      await this.#r.set(this.#kWill(will.clientId), encodeWill(will))
    })
  }

  getWill (clientId: string): Promise<WillRecord | null> {
    return this.#run('getWill', async () => {
      const key = this.#kWill(clientId)
      const v = await this.#r.getBuffer(key)
      return v === null ? null : decodeWill(v, key)
    })
  }

  deleteWill (clientId: string): Promise<void> {
    return this.#run('deleteWill', async () => {
      const key = this.#kWill(clientId)
      const v = await this.#r.getdelBuffer(key)
      if (v !== null) await this.#r.srem(this.#kNodeWills(decodeWill(v, key).nodeId), clientId)
    })
  }

  /** GET, check the owner, then delete only if the bytes are still the same (compare-and-delete). */
  takeWill (clientId: string, nodeId: string): Promise<WillRecord | null> {
    return this.#run('takeWill', async () => {
      const key = this.#kWill(clientId)
      const v = await this.#r.getBuffer(key)
      if (v === null) return null
      const w = decodeWill(v, key)
      if (w.nodeId !== nodeId) return null
      // another node that took it (or a new will of the client) changed the key meanwhile
      if (await this.#r.eval(TAKE_WILL, 1, key, v) !== 1) return null
      await this.#r.srem(this.#kNodeWills(nodeId), clientId)
      return w
    })
  }

  willsOfNode (nodeId: string): Promise<WillRecord[]> {
    return this.#run('willsOfNode', async () => {
      const set = this.#kNodeWills(nodeId)
      const ids = await this.#r.smembers(set)
      if (ids.length === 0) return []
      const values = await Promise.all(ids.map(async (c) => await this.#r.getBuffer(this.#kWill(c))))
      const out: WillRecord[] = []
      const stale: string[] = []
      for (let i = 0; i < ids.length; i++) {
        const v = values[i]
        const w = v === null || v === undefined ? null : decodeWill(v, this.#kWill(ids[i]!))
        // the will was deleted, or replaced by one owned by another node
        if (w === null || w.nodeId !== nodeId) stale.push(ids[i]!)
        else out.push(w)
      }
      if (stale.length > 0) await this.#r.srem(set, ...stale)
      return out
    })
  }

  // ───────── ownership (clusters) ─────────

  /** One Lua script on the client's owner key (its hash tag: one slot on a Redis Cluster). */
  claimSession (clientId: string, nodeId: string): Promise<SessionClaim> {
    return this.#run('claimSession', async () => {
      const [epoch, previous] = await this.#s.culexClaim(this.#kOwner(clientId), nodeId) as [number, string | null]
      return { epoch: Number(epoch), previous: previous ?? null }
    })
  }

  sessionOwner (clientId: string): Promise<SessionOwner | null> {
    return this.#run('sessionOwner', async () => {
      const [n, e] = await this.#r.hmget(this.#kOwner(clientId), 'n', 'e')
      return n === null || n === undefined ? null : { nodeId: n, epoch: Number(e) }
    })
  }

  /** Close the connection (after pending replies). Further calls reject (STORE_REDIS_ERR_CLOSED). */
  async close (): Promise<void> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', 'RedisStore: close() after close()')
    this.#closed = true
    this.#flush()
    if (this.#sub !== null) this.#sub.disconnect()
    if (this.#opening === null) {
      this.#r.disconnect()
      return
    }
    await this.#r.quit().catch(() => { this.#r.disconnect() })
  }
}
