/**
 * `RedisStore`: a {@link Store} on Redis (ioredis), shared by every broker node of a
 * cluster. Each broker operation is one round trip (a Lua script on one client's keys, or
 * one command), except where noted: `matchRetained` with wildcards (2), `sessions()` (one
 * per 100 sessions), `deleteWill` and `putWill` (2), `willsOfNode` (2). `enqueueMany` issues
 * one script per client in the same tick: they are written back to back on the one
 * connection, so they cost one round trip of latency, not N.
 *
 * Key layout: see README.md and scripts.ts. Every key of one client carries the hash tag
 * `{clientId}`; retained messages share the tag `{retained}`; the indexes of sessions, of
 * session expiry and of wills per node are single keys. Index entries are written before the
 * data they point to and removed after it, so an index may briefly name a missing record
 * (readers skip it), never the other way round.
 */
import type { Redis } from 'ioredis'
import type {
  EnqueueResult, OutgoingRecord, SessionRecord, Store, StoredMessage, StoreOptions,
  SubscriptionRecord, WillRecord
} from '@culex/broker'
import { decodeMessage, decodeOutgoing, decodeWill, encodeMessage, encodeOutgoing, encodeWill } from './codec.ts'
import { createRedis, type RedisConnectionOptions } from './connection.ts'
import { RedisStoreError, isRedisStoreError } from './errors.ts'
import { literalPrefix, matchAll } from './topic.ts'
import * as lua from './scripts.ts'

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions extends StoreOptions, RedisConnectionOptions {
  /** Prefix of every key. Default `culex:`. Stores with different prefixes share nothing. */
  prefix?: string
}

type Cmd = (...args: Array<string | Buffer | number>) => Promise<unknown>

const SCRIPTS = {
  culexEnqueue: [9, lua.ENQUEUE],
  culexUpdate: [9, lua.UPDATE],
  culexAck: [9, lua.ACK],
  culexRemove: [9, lua.REMOVE],
  culexOutgoing: [9, lua.OUTGOING],
  culexSaveSession: [1, lua.SAVE_SESSION],
  culexAddSubs: [1, lua.ADD_SUBS],
  culexRemoveSubs: [1, lua.REMOVE_SUBS],
  culexSetExpiry: [1, lua.SET_EXPIRY],
  culexDrop: [9, lua.DROP],
  culexDropIfExpired: [9, lua.DROP_IF_EXPIRED],
  culexPutRetained: [2, lua.PUT_RETAINED],
  culexDelRetainedIf: [2, lua.DEL_RETAINED_IF]
} as const

type Scripts = { [K in keyof typeof SCRIPTS]: Cmd } & { [K in keyof typeof SCRIPTS as `${K}Buffer`]: Cmd }

const EXPIRES = '\u0000e'

interface SessionMeta { v: 3 | 4 | 5, x: number }

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
  readonly #r: Redis
  readonly #s: Scripts
  readonly #p: string
  readonly #max: number
  readonly #where: string
  #opening: Promise<void> | null = null
  #closed = false

  /**
   * @param opts - connection (`url`, `redis`, `password`, `tls`, `commandTimeout` default
   *   5000 ms), `prefix` (default `culex:`), `maxQueuedMessages` (default 1000)
   */
  constructor (opts: RedisStoreOptions = {}) {
    this.#r = createRedis(opts)
    for (const [name, [numberOfKeys, source]] of Object.entries(SCRIPTS)) this.#r.defineCommand(name, { numberOfKeys, lua: source })
    this.#s = this.#r as unknown as Scripts
    this.#p = opts.prefix ?? 'culex:'
    this.#max = opts.maxQueuedMessages ?? 1000
    this.#where = `${this.#r.options.host ?? '?'}:${this.#r.options.port ?? '?'}`
    // errors surface on the commands; ioredis would otherwise print unhandled 'error' events
    this.#r.on('error', () => {})
  }

  /**
   * Connect. Called implicitly by the first operation.
   *
   * @throws RedisStoreError STORE_REDIS_ERR_UNAVAILABLE
   */
  open (): Promise<void> {
    this.#opening ??= this.#r.connect().catch((err: unknown) => {
      this.#opening = null
      throw this.#wrap('connecting', err)
    })
    return this.#opening
  }

  #wrap (what: string, err: unknown): Error {
    if (isRedisStoreError(err)) return err
    return new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisStore: ${what} at ${this.#where} failed: ${(err as Error).message}`, { cause: err })
  }

  async #run<T> (what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisStore: ${what} after close()`)
    await this.open()
    try {
      return await fn()
    } catch (err) {
      throw this.#wrap(what, err)
    }
  }

  #ck (c: string): string[] {
    const t = `${this.#p}{${c}}:`
    return [`${t}s`, `${t}r`, `${t}st`, `${t}q`, `${t}qq`, `${t}ex`, `${t}mid`, `${t}in`, `${t}n`]
  }

  get #kSessions (): string { return `${this.#p}sessions` }
  get #kExpiry (): string { return `${this.#p}expiry` }
  get #kRetained (): [string, string] { return [`${this.#p}{retained}:m`, `${this.#p}{retained}:t`] }
  #kWill (c: string): string { return `${this.#p}{${c}}:w` }
  #kNodeWills (n: string): string { return `${this.#p}wills:${n}` }

  // ───────── sessions ─────────

  #decodeSession (clientId: string, h: Record<string, string>, now: number): SessionRecord | null {
    const metaRaw = h['']
    if (metaRaw === undefined) return null
    const meta = JSON.parse(metaRaw) as SessionMeta
    const s: SessionRecord = { clientId, protocolVersion: meta.v, expiryInterval: meta.x, subscriptions: [] }
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
      const args: string[] = [JSON.stringify({ v: session.protocolVersion, x: session.expiryInterval })]
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
      await this.#s.culexPutRetained(...this.#kRetained, message.topic, message.payload.length === 0 ? '' : encodeMessage(message))
    })
  }

  matchRetained (filter: string): Promise<StoredMessage[]> {
    return this.#run('matchRetained', async () => {
      const [hash, index] = this.#kRetained
      let topics: string[]
      const prefix = literalPrefix(filter)
      if (prefix === null) {
        topics = [filter]
      } else {
        const lo = prefix === '' ? '-' : Buffer.from(`[${prefix}`)
        const hi = prefix === '' ? '+' : Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])])
        topics = matchAll(filter, await this.#r.zrangebylex(index, lo, hi))
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
        if (m.expiresAt !== undefined && m.expiresAt <= now) expired.push(this.#s.culexDelRetainedIf(hash, index, topics[i]!, v))
        else out.push(m)
      }
      await Promise.all(expired)
      return out
    })
  }

  countRetained (): Promise<number> {
    return this.#run('countRetained', async () => await this.#r.hlen(this.#kRetained[0]))
  }

  // ───────── outgoing ─────────

  enqueue (clientId: string, message: StoredMessage, subscriptionIds?: number[]): Promise<EnqueueResult> {
    return this.#run('enqueue', async () => {
      const r = await this.#s.culexEnqueue(...this.#ck(clientId), this.#max, encodeOutgoing(message, subscriptionIds), message.expiresAt ?? '') as [number, number]
      return { seq: r[0], dropped: r[1] }
    })
  }

  enqueueMany (entries: ReadonlyArray<{ clientId: string, subscriptionIds?: number[] }>, message: StoredMessage): Promise<void> {
    return this.#run('enqueueMany', async () => {
      let plain: Buffer | null = null
      await Promise.all(entries.map(async (e) => {
        const rec = e.subscriptionIds !== undefined && e.subscriptionIds.length > 0
          ? encodeOutgoing(message, e.subscriptionIds)
          : (plain ??= encodeOutgoing(message, undefined))
        await this.#s.culexEnqueue(...this.#ck(e.clientId), this.#max, rec, message.expiresAt ?? '')
      }))
    })
  }

  updateOutgoing (clientId: string, seq: number, update: { messageId: number, state: 'sent' | 'pubrel' }): Promise<void> {
    return this.#run('updateOutgoing', async () => {
      await this.#s.culexUpdate(...this.#ck(clientId), seq, update.messageId, update.state === 'sent' ? 's' : 'p')
    })
  }

  ackOutgoing (clientId: string, messageId: number): Promise<OutgoingRecord | null> {
    return this.#run('ackOutgoing', async () => {
      const r = await this.#s.culexAckBuffer(...this.#ck(clientId), messageId) as [Buffer, Buffer, Buffer] | null
      if (r === null) return null
      const seq = Number(r[0].toString())
      return decodeOutgoing(r[2], `${clientId} ${seq}`, seq, r[1].toString())
    })
  }

  removeOutgoing (clientId: string, seq: number): Promise<void> {
    return this.#run('removeOutgoing', async () => {
      await this.#s.culexRemove(...this.#ck(clientId), seq)
    })
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

  /** Close the connection (after pending replies). Further calls reject (STORE_REDIS_ERR_CLOSED). */
  async close (): Promise<void> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', 'RedisStore: close() after close()')
    this.#closed = true
    if (this.#opening === null) {
      this.#r.disconnect()
      return
    }
    await this.#r.quit().catch(() => { this.#r.disconnect() })
  }
}
