/**
 * `RedisBus`: the cluster {@link Bus} on Redis: a stream per node for publishes, pub/sub for
 * control messages, a route table, and a liveness sorted set.
 *
 * - Publishes (every QoS) go to the nodes that have a matching subscription (the route
 *   table below), and nowhere when none has. Each node has an inbox stream
 *   `{prefix}bus:{<node>}` (a Redis Stream; the hash tag keeps it in one slot of a Redis
 *   Cluster). The publishes sent in one tick are encoded into one batch per target node and
 *   written with one XADD per target; `send` resolves once that XADD is acknowledged by
 *   Redis, so the broker's PUBACK/PUBREC for a QoS 1/2 message waits for it.
 * - Each entry carries the sender's id, its incarnation (random per `RedisBus` instance) and a
 *   sequence number per (sender, receiver). The receiver reads its inbox with a blocking XREAD
 *   on a dedicated connection from the last id it processed, and skips an entry whose sequence
 *   number it already processed (an XADD retried after a dropped connection is written twice:
 *   delivered once). A sequence number that jumps is a gap (an XADD that failed for good: its
 *   publisher got no acknowledgement): counted in `stats.gaps` and logged.
 * - After each batch, once the broker's work on it is done (the promises its handler returned:
 *   store writes, room in full queues; the inbox is not read further meanwhile), the receiver
 *   stores its position and the last sequence number per sender in the hash
 *   `{prefix}bus:{<node>}:pos` and trims what it read from its inbox (XTRIM MINID): only this
 *   node reads its inbox, so it is then read by every node that needs it. A node restarted
 *   with the same id (also after SIGKILL between reading and storing), or reconnected after a
 *   dropped connection, resumes from there. A rejected promise: the position is stored up to
 *   the entry before it, and reading resumes from it after `retryMs`.
 * - Backpressure: per target node, the sender keeps the entries it wrote past the position
 *   that node stored (read with each write); beyond `maxInboxBacklog` publishes, `send` to it
 *   resolves only once it is within the bound again, and QoS 0 to it is dropped.
 * - Route table: each node keeps the set of topic filters its broker routes (shared
 *   subscriptions by their filter: every member counts) in `{prefix}routes:{<node>}`, written
 *   once per tick when it changed, followed by a notice on pub/sub; other nodes then reload
 *   that set into a {@link TopicTrie}. A subscription reaches other nodes' tables one Redis
 *   round trip after it is made: a message published on another node before that does not
 *   reach it. Every heartbeat, nodes alive without a known table are loaded and dead nodes
 *   dropped, so a lost notice heals within a heartbeat.
 * - Shared groups are cluster-wide: each node keeps its groups in the hash
 *   `{prefix}shares:{<node>}` (field `$share/{group}/{filter}`, value `<connected>:<members>`),
 *   written with the route table and announced by the same notice. The publishing node picks,
 *   for every group matching the topic anywhere, one node (round-robin weighted by connected
 *   members; among nodes with only offline members when none is connected) and the publish
 *   carries the picks to every target: a node serves the groups picked for it (it decodes only
 *   those), and a node that has only group members receives the message only when picked.
 * - Control messages (takeover, …) go to the pub/sub channel `{prefix}bus`, at most once
 *   (a node disconnected from Redis misses what is published meanwhile).
 * - `sendTo(node, message)` (session handoff) writes one entry into that node's inbox stream,
 *   with the next sequence number of (this node, that node): durable, in order with the
 *   publishes sent there, deduplicated like them; a node that is down reads it when it runs
 *   again.
 * - Liveness: every `heartbeatMs` a node writes its clock into the sorted set
 *   `{prefix}nodes` (member node id, score ms); `aliveNodes()` returns the nodes seen within
 *   `deadAfterMs`. Node clocks are assumed roughly in sync (NTP); `deadAfterMs` absorbs skew.
 *   A node that starts later reads the same set, so it knows of a node that died before it
 *   started. A clean `close()` leaves the set: that node is gone, not dead.
 * - Failure detection: with an `onNodeDead` handler (the broker's), every heartbeat a node
 *   runs one Lua script on `{prefix}nodes` that removes each other member not seen within
 *   `deadAfterMs` and returns them: removal is the atomic claim, so exactly one live node
 *   gets each dead node and calls the handler (the broker publishes its wills). A node that
 *   restarts with the same id beats into the set again, and is claimed again if it dies
 *   again. A node that was claimed while still running (cut off from Redis for longer than
 *   `deadAfterMs`) finds itself missing from the set at its next beat: it logs that and
 *   counts it in `stats.declaredDead`.
 * - On a Redis Cluster the connections are ioredis `Cluster` clients and the control channel
 *   is a sharded one (SPUBLISH / SSUBSCRIBE, Redis 7), so that each node's messages arrive in
 *   the order it sent them.
 */
import { randomUUID } from 'node:crypto'
import { messageFromHead, messageHead, packRecord } from '@culex/packet/record'
import type { Bus, BusMessage, DeadNode, SharePick, StoredMessage } from '@culex/broker'
import { TopicTrie } from '@culex/trie'
import { unpack } from './codec.ts'
import { createClient, describeCluster, type RedisClient, type RedisConnectionOptions } from './connection.ts'
import { RedisStoreError } from './errors.ts'

/** Where {@link RedisBus} reports gaps and undecodable entries. pino's `warn` fits. */
export interface RedisBusLogger {
  warn (obj: object, msg: string): void
}

/** Options of {@link RedisBus}. */
export interface RedisBusOptions extends RedisConnectionOptions {
  /** This node's id, unique in the cluster; keep it across restarts. Default: a random UUID. */
  nodeId?: string
  /** Prefix of the channel and keys. Default `culex:`. */
  prefix?: string
  /** How often this node announces itself, ms. Default 1000. */
  heartbeatMs?: number
  /**
   * A node not heard from for this long is dead, ms: it leaves `aliveNodes()`, and one live
   * node claims it (`onNodeDead`). More than `heartbeatMs`. Default 3 × heartbeatMs.
   */
  deadAfterMs?: number
  /** How long one XREAD blocks, ms. Default 1000. */
  blockMs?: number
  /**
   * When the broker could not store what it received from the inbox (a store write
   * failed), reading stops for this long, then resumes from the first entry not stored, ms.
   * Default 1000.
   */
  retryMs?: number
  /**
   * Backpressure across nodes: how many publishes this node may have in another node's inbox
   * that the other node has not yet stored (unread, or read and still waiting for its store
   * writes or for room in a full queue; known from the position it saves). While a target is
   * beyond it, the `send` of a publish to it resolves only once it is back within it (so the
   * PUBACK/PUBREC of a QoS 1/2 publisher waits, and its Receive Maximum throttles it), and a
   * QoS 0 publish to it is dropped and counted (`stats.dropped`). `Infinity`: no bound.
   * Default 2000.
   */
  maxInboxBacklog?: number
  /** Default: `process.emitWarning`. */
  logger?: RedisBusLogger
}

/** Counters of a {@link RedisBus}'s inbox. */
export interface RedisBusStats {
  /** Stream entries (batches) read from this node's inbox and processed. */
  entries: number
  /** Publishes decoded and handed to the broker. */
  delivered: number
  /** Entries skipped because their sequence number was already processed. */
  replays: number
  /** Sequence numbers that never arrived. */
  gaps: number
  /** Entries that did not decode (skipped). */
  corrupt: number
  /** Times this node found it had been claimed dead by another node while it was running. */
  declaredDead: number
  /**
   * Times the broker failed to store what it received (a store write rejected): reading
   * stopped for `retryMs` and resumed from the first entry not stored.
   */
  storeFailures: number
  /** Batches of publishes whose `send` waited for a target's inbox to be within `maxInboxBacklog`. */
  held: number
  /** QoS 0 publishes not sent to a node whose inbox was beyond `maxInboxBacklog`. */
  dropped: number
}

interface Deferred { promise: Promise<void>, resolve: () => void, reject: (err: unknown) => void }

function deferred (): Deferred {
  let res!: () => void
  let rej!: (err: unknown) => void
  const promise = new Promise<void>((resolve, reject) => { res = resolve; rej = reject })
  promise.catch(() => {})
  return { promise, resolve: res, reject: rej }
}

/** One batch read from the inbox: each entry's id and the (sender, incarnation, seq) it advanced. */
interface ReadBatch {
  ids: string[]
  marks: Array<{ sender: string, inc: string, seq: number } | null>
}

/**
 * The claim on dead nodes (KEYS[1] the node set, ARGV[1] the cutoff ms, ARGV[2] the caller):
 * removes every other member last seen before the cutoff and returns them with their last
 * score. Atomic, so each dead node is returned to exactly one caller.
 */
const CLAIM_DEAD = `
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'WITHSCORES')
local out = {}
for i = 1, #dead, 2 do
  if dead[i] ~= ARGV[2] then
    redis.call('ZREM', KEYS[1], dead[i])
    out[#out + 1] = dead[i]
    out[#out + 1] = dead[i + 1]
  end
end
return out`

/** A heartbeat (KEYS[1] the node set, ARGV[1] now, ARGV[2] the node): 1 if it was in the set. */
const BEAT = `
local had = redis.call('ZSCORE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if had then return 1 end
return 0`

const NO_TARGETS: readonly string[] = []
/** How long close() lets the broker's work on the last batch read finish before it stops, ms. */
const CLOSE_GRACE_MS = 250
/** How often the position of a node beyond maxInboxBacklog is read again, ms. */
const BACKLOG_POLL_MS = 20

/** Whether stream id `a` (`ms-seq`) is at or before `b`. */
function idAtOrBefore (a: string, b: string): boolean {
  const da = a.indexOf('-')
  const db = b.indexOf('-')
  const ma = Number(a.slice(0, da))
  const mb = Number(b.slice(0, db))
  return ma < mb || (ma === mb && Number(a.slice(da + 1)) <= Number(b.slice(db + 1)))
}

/**
 * The entries one node wrote to another node's inbox past the position that node saved, and
 * how many publishes they hold (see maxInboxBacklog).
 */
class Unsaved {
  ids: string[] = []
  counts: number[] = []
  head = 0
  total = 0

  add (id: string, count: number): void {
    this.ids.push(id)
    this.counts.push(count)
    this.total += count
  }

  /** The target saved its position at `pos`: entries up to it are stored there. */
  saved (pos: string | null): void {
    if (pos === null) return
    const ids = this.ids
    while (this.head < ids.length && idAtOrBefore(ids[this.head]!, pos)) this.total -= this.counts[this.head++]!
    if (this.head > 1024 && this.head * 2 > ids.length) {
      this.ids = ids.slice(this.head)
      this.counts = this.counts.slice(this.head)
      this.head = 0
    }
  }
}

/**
 * One cluster-wide shared group: its members per node and the pick cursor. Kept as parallel
 * arrays (changed when a node's counts change, read on every publish) with one pick tuple per
 * node, so a pick allocates nothing.
 */
class ShareGroup {
  readonly key: string
  readonly filter: string
  nodes: string[] = []
  online: number[] = []
  picks: SharePick[] = []
  cursor = 0
  constructor (key: string, filter: string) {
    this.key = key
    this.filter = filter
  }

  /** `node` has `online` connected members (of some); `online` -1: none left. */
  set (node: string, online: number): void {
    const i = this.nodes.indexOf(node)
    if (online < 0) {
      if (i < 0) return
      this.nodes.splice(i, 1)
      this.online.splice(i, 1)
      this.picks.splice(i, 1)
    } else if (i < 0) {
      this.nodes.push(node)
      this.online.push(online)
      this.picks.push([this.key, node])
    } else {
      this.online[i] = online
    }
  }

  /** The next pick (its node not `exclude`): weighted by connected members, else any with members. */
  pick (exclude: string | null): SharePick | null {
    const nodes = this.nodes
    const online = this.online
    let sum = 0
    let any = 0
    for (let i = 0; i < nodes.length; i++) {
      if (nodes[i] === exclude) continue
      sum += online[i]!
      any++
    }
    if (any === 0) return null
    const c = this.cursor++
    if (sum > 0) {
      let at = c % sum
      for (let i = 0; i < nodes.length; i++) {
        if (nodes[i] === exclude) continue
        if (at < online[i]!) return this.picks[i]!
        at -= online[i]!
      }
    }
    let at = c % any
    for (let i = 0; i < nodes.length; i++) {
      if (nodes[i] === exclude) continue
      if (at-- === 0) return this.picks[i]!
    }
    return null // not reached
  }
}

/** Frame wrapper carrying shared-group picks (see {@link encodeFrame}). */
const SHARES = 0x40
const SHARES_ONLY = 0x01
const DONE = Promise.resolve()
DONE.catch(() => {})

/**
 * One publish of a batch: `[u32 BE length][body]`. The body of a message without properties
 * or expiry is compact, `[u8 0x80 | origin? 0x08 | retain? 0x04 | qos][u16 topic length][topic]
 * ([u16 origin length][origin])[payload]`; otherwise it is the shared record format
 * (`packRecord`, whose first byte is 0: its header is shorter than 16 MB). The compact form
 * saves the JSON header's stringify and parse: with it, the sending node of the two-node
 * QoS 0 fan-in spent about a third of its busy time in `packRecord` (CPU profile).
 * A publish with shared-group picks carries them before its body (see {@link writeShares}).
 */
function encodeFrame (m: StoredMessage, shares: readonly SharePick[] | undefined, only: boolean): Buffer {
  // picks first (see writeShares), in the same buffer: one allocation per message
  let head = 0
  if (shares !== undefined && shares.length > 0) {
    head = 5
    for (let i = 0; i < shares.length; i++) head += 8 + Buffer.byteLength(shares[i]![0]) + Buffer.byteLength(shares[i]![1])
  }
  if (m.properties === undefined && m.expiresAt === undefined) {
    const tlen = Buffer.byteLength(m.topic)
    const olen = m.origin === undefined ? -2 : Buffer.byteLength(m.origin)
    const size = head + 3 + tlen + 2 + olen + m.payload.length
    const out = Buffer.allocUnsafe(4 + size)
    out.writeUInt32BE(size, 0)
    let at = head === 0 ? 4 : writeShares(out, shares!, only)
    out[at] = 0x80 | (olen >= 0 ? 0x08 : 0) | (m.retain ? 0x04 : 0) | m.qos
    out.writeUInt16BE(tlen, at + 1)
    at += 3 + out.write(m.topic, at + 3, 'utf8')
    if (olen >= 0) {
      out.writeUInt16BE(olen, at)
      at += 2 + out.write(m.origin!, at + 2, 'utf8')
    }
    m.payload.copy(out, at)
    return out
  }
  const record = packRecord(messageHead(m), m.payload)
  const out = Buffer.allocUnsafe(4 + head + record.length)
  out.writeUInt32BE(head + record.length, 0)
  record.copy(out, head === 0 ? 4 : writeShares(out, shares!, only))
  return out
}

/**
 * Shared-group picks before a frame body: `[u8 0x40 | only?][u32 n]([u32 len][share][u32 len]
 * [node]) × n`, then the body as above (a compact body's first byte has 0x80 set, a record's
 * is 0: 0x40 tells the picks apart). Written at offset 4 of `out`; returns where the body starts.
 */
function writeShares (out: Buffer, shares: readonly SharePick[], only: boolean): number {
  out[4] = SHARES | (only ? SHARES_ONLY : 0)
  out.writeUInt32BE(shares.length, 5)
  let at = 9
  for (let i = 0; i < shares.length; i++) {
    const sl = out.write(shares[i]![0], at + 4, 'utf8')
    out.writeUInt32BE(sl, at)
    at += 4 + sl
    const nl = out.write(shares[i]![1], at + 4, 'utf8')
    out.writeUInt32BE(nl, at)
    at += 4 + nl
  }
  return at
}

/**
 * Split the picks from a frame body (see {@link writeShares}): those for the node `self`
 * (UTF-8), the others skipped; null if they do not parse.
 */
function decodeShares (body: Buffer, self: Buffer): { shares: SharePick[], only: boolean, inner: Buffer } | null {
  if (body.length < 5) return null
  const n = body.readUInt32BE(1)
  const shares: SharePick[] = []
  let at = 5
  for (let i = 0; i < n; i++) {
    if (at + 4 > body.length) return null
    const send = at + 4 + body.readUInt32BE(at)
    if (send + 4 > body.length) return null
    const nend = send + 4 + body.readUInt32BE(send)
    if (nend > body.length) return null
    // only the picks for this node are decoded: the others are served elsewhere
    if (nend - send - 4 === self.length && body.compare(self, 0, self.length, send + 4, nend) === 0) {
      shares.push([body.toString('utf8', at + 4, send), body.toString('utf8', send + 4, nend)])
    }
    at = nend
  }
  if (at >= body.length) return null
  return { shares, only: (body[0]! & SHARES_ONLY) !== 0, inner: body.subarray(at) }
}

/** Decode one frame body (see {@link encodeFrame}); null if it does not parse. */
function decodeFrame (body: Buffer, key: string): StoredMessage | null {
  const flags = body[0]!
  if ((flags & 0x80) === 0) {
    try {
      const { head, payload } = unpack(body, key)
      return messageFromHead(head, payload)
    } catch {
      return null
    }
  }
  const qos = flags & 0x03
  if (qos === 3 || body.length < 3) return null
  const tend = 3 + body.readUInt16BE(1)
  if (tend > body.length) return null
  const m: StoredMessage = { topic: body.toString('utf8', 3, tend), payload: body, qos: qos as StoredMessage['qos'], retain: (flags & 0x04) !== 0 }
  let at = tend
  if ((flags & 0x08) !== 0) {
    if (at + 2 > body.length) return null
    const oend = at + 2 + body.readUInt16BE(at)
    if (oend > body.length) return null
    m.origin = body.toString('utf8', at + 2, oend)
    at = oend
  }
  m.payload = body.subarray(at)
  return m
}

/** Whether a pick before `i` names the same node as pick `i`. */
function pickedBefore (shares: readonly SharePick[], i: number): boolean {
  const node = shares[i]![1]
  for (let j = 0; j < i; j++) if (shares[j]![1] === node) return true
  return false
}

/** The id right after `id` (`ms-seq` → `ms-(seq+1)`): XTRIM MINID of it removes `id` too. */
function nextId (id: string): string {
  const dash = id.indexOf('-')
  return `${id.slice(0, dash)}-${Number(id.slice(dash + 1)) + 1}`
}

/**
 * A {@link Bus} over Redis Streams (publishes) and pub/sub (control messages).
 *
 * @example
 * ```ts
 * import { Broker } from '@culex/broker'
 * import { RedisBus, RedisStore } from '@culex/store-redis'
 * const bus = new RedisBus({ url: 'redis://localhost:6379', nodeId: 'node-1' })
 * await bus.open()
 * const broker = new Broker({ bus, store: new RedisStore({ url: 'redis://localhost:6379' }) })
 * ```
 */
export class RedisBus implements Bus {
  readonly nodeId: string
  /** Inbox counters (read-only for users). */
  readonly stats: RedisBusStats = { entries: 0, delivered: 0, replays: 0, gaps: 0, corrupt: 0, declaredDead: 0, storeFailures: 0, held: 0, dropped: 0 }
  readonly #pub: RedisClient
  readonly #sub: RedisClient
  readonly #reader: RedisClient
  readonly #prefix: string
  readonly #channel: string
  readonly #nodes: string
  readonly #inbox: string
  /** This node's id in UTF-8 (picks for other nodes are not decoded). */
  readonly #self: Buffer
  readonly #pos: string
  readonly #heartbeatMs: number
  readonly #deadAfterMs: number
  readonly #blockMs: number
  readonly #logger: RedisBusLogger | null
  /** Random per instance: a restarted sender's sequence numbers start again at 1. */
  readonly #incarnation = randomUUID()
  #handler: ((m: BusMessage) => unknown) | null = null
  #deadHandler: ((dead: DeadNode) => void) | null = null
  /** This node's heartbeat is in the node set (a later beat that finds it missing was claimed). */
  #beaten = false
  #timer: NodeJS.Timeout | null = null
  #opening: Promise<void> | null = null
  #reading: Promise<void> | null = null
  /** open() finished: route changes are announced on their own from now on. */
  #ready = false
  #closed = false
  /** On a Redis Cluster: sharded pub/sub. */
  readonly #sharded: boolean

  // ── outgoing
  /** Encoded publishes of this tick, per target node. */
  readonly #out = new Map<string, Buffer[]>()
  #batch: Deferred | null = null
  /** Next sequence number per target node. */
  readonly #seq = new Map<string, number>()
  readonly #maxBacklog: number
  /** Target nodes whose inbox is beyond maxInboxBacklog, and the wait until it is within. */
  readonly #over = new Map<string, Promise<void>>()
  /** Per target node: the entries written to its inbox that it has not saved its position past. */
  readonly #unsaved = new Map<string, Unsaved>()

  // ── incoming: per sender, `incarnation` and last sequence number processed
  readonly #from = new Map<string, { inc: string, seq: number }>()
  #lastId = '0-0'
  /** What is stored in `{inbox}:pos`: the position and sequence numbers of durable entries. */
  readonly #saved = new Map<string, { inc: string, seq: number }>()
  #savedId = '0-0'
  /** The broker's work on the entries of the batch being read (see #settle), and their entry index. */
  #work: Array<PromiseLike<unknown>> | null = null
  #workAt: number[] = []
  /** The entry being processed (index in its batch). */
  #entry = 0
  readonly #retryMs: number
  /** Resolves on close(): a read loop waiting for the broker's work stops waiting. */
  readonly #closing: Deferred
  /** Resolves once onMessage registered a handler: the inbox is read from then on. */
  readonly #handlerSet: Deferred

  // ── route table
  /** This node's filters and how many subscriptions (or groups) use each. */
  readonly #local = new Map<string, number>()
  /** The filters written to Redis. */
  readonly #announced = new Set<string>()
  #announcing = false
  /** Other nodes' filters. */
  readonly #routes = new TopicTrie<string>()
  readonly #tables = new Map<string, Set<string>>()
  /** Per node: a reload running (`true`) or wanted again after it (`'again'`). */
  readonly #loading = new Map<string, boolean | 'again'>()
  // match scratch: `interested(topic)` leaves the targets for the `send` that follows
  #scratchTopic: string | null = null
  #scratch: string[] = []
  readonly #collect = (node: string): void => {
    if (!this.#scratch.includes(node)) this.#scratch.push(node)
  }

  // ── cluster-wide shared groups
  /** This node's groups: `<connected>:<members>` per `$share/{group}/{filter}`. */
  readonly #shareLocal = new Map<string, string>()
  /** What of #shareLocal is written to Redis. */
  readonly #sharesAnnounced = new Map<string, string>()
  /** Other nodes' groups, as read from Redis. */
  readonly #shareTables = new Map<string, Map<string, string>>()
  /** Every group known, this node's included, and its members per node. */
  readonly #shares = new Map<string, ShareGroup>()
  readonly #shareTrie = new TopicTrie<ShareGroup>()
  #picks: SharePick[] | null = null
  readonly #pick = (g: ShareGroup): void => {
    const pick = g.pick(null)
    if (pick !== null) (this.#picks ??= []).push(pick)
  }

  /**
   * @param opts - connection options (a `cluster` or `redis+cluster://` URL: ioredis `Cluster`
   *   clients), `nodeId`, `prefix`, `heartbeatMs`, `deadAfterMs`, `blockMs`, `logger`
   * @throws RedisStoreError STORE_REDIS_ERR_OPTIONS (a malformed cluster URL or `cluster` option;
   *   `heartbeatMs` not a positive integer; `deadAfterMs` not an integer above `heartbeatMs`)
   */
  constructor (opts: RedisBusOptions = {}) {
    const heartbeatMs = opts.heartbeatMs ?? 1000
    if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 1) {
      throw new RedisStoreError('STORE_REDIS_ERR_OPTIONS', `RedisBus option heartbeatMs: expected a positive integer (ms), got ${String(opts.heartbeatMs)}`)
    }
    const deadAfterMs = opts.deadAfterMs ?? 3 * heartbeatMs
    if (!Number.isSafeInteger(deadAfterMs) || deadAfterMs <= heartbeatMs) {
      throw new RedisStoreError('STORE_REDIS_ERR_OPTIONS', `RedisBus option deadAfterMs: expected an integer (ms) above heartbeatMs ${heartbeatMs} (a live node beats within it), got ${String(opts.deadAfterMs)}`)
    }
    this.nodeId = opts.nodeId ?? randomUUID()
    const prefix = opts.prefix ?? 'culex:'
    this.#prefix = prefix
    this.#channel = `${prefix}bus`
    this.#nodes = `${prefix}nodes`
    this.#inbox = this.#inboxOf(this.nodeId)
    this.#self = Buffer.from(this.nodeId)
    this.#pos = `${this.#inbox}:pos`
    this.#heartbeatMs = heartbeatMs
    this.#deadAfterMs = deadAfterMs
    this.#blockMs = opts.blockMs ?? 1000
    this.#retryMs = opts.retryMs ?? 1000
    const maxBacklog = opts.maxInboxBacklog ?? 2000
    if (maxBacklog !== Infinity && (!Number.isSafeInteger(maxBacklog) || maxBacklog < 1)) {
      throw new RedisStoreError('STORE_REDIS_ERR_OPTIONS', `RedisBus option maxInboxBacklog: expected a positive integer (publishes) or Infinity, got ${String(opts.maxInboxBacklog)}`)
    }
    this.#maxBacklog = maxBacklog
    this.#closing = deferred()
    this.#handlerSet = deferred()
    this.#logger = opts.logger ?? null
    this.#sharded = describeCluster(opts) !== null
    this.#pub = createClient(opts)
    this.#sub = createClient(opts, {}, this.#sharded ? { shardedSubscribers: true } : {})
    // a blocking XREAD must not time out: the command timeout is the block time plus margin
    this.#reader = createClient(opts, { commandTimeout: this.#blockMs + (opts.commandTimeout ?? 5000) })
    this.#pub.on('error', () => {})
    this.#sub.on('error', () => {})
    this.#reader.on('error', () => {})
    this.#sub.on(this.#sharded ? 'smessageBuffer' : 'messageBuffer', (_channel: Buffer, data: Buffer) => { this.#receive(data) })
    // after a dropped pub/sub connection, notices may have been missed: reload every table
    this.#sub.on('ready', () => { if (this.#reading !== null) this.#reloadAll() })
  }

  #inboxOf (node: string): string {
    return `${this.#prefix}bus:{${node}}`
  }

  #routesOf (node: string): string {
    return `${this.#prefix}routes:{${node}}`
  }

  #sharesOf (node: string): string {
    return `${this.#prefix}shares:{${node}}`
  }

  #warn (obj: Record<string, unknown>, msg: string): void {
    if (this.#logger !== null) this.#logger.warn(obj, msg)
    else process.emitWarning(`${msg} ${JSON.stringify(obj)}`, { code: 'CULEX_REDIS_BUS' })
  }

  /**
   * Connect, load the stored inbox position, announce this node's filters, load the other
   * nodes' tables, start reading and the heartbeat. Called implicitly by `send`.
   *
   * @throws RedisStoreError STORE_REDIS_ERR_UNAVAILABLE
   */
  open (): Promise<void> {
    this.#opening ??= (async () => {
      try {
        await Promise.all([this.#pub.connect(), this.#sub.connect(), this.#reader.connect()])
        if (this.#sharded) await this.#sub.ssubscribe(this.#channel)
        else await this.#sub.subscribe(this.#channel)
        const pos = await this.#pub.hgetall(this.#pos)
        for (const [k, v] of Object.entries(pos)) {
          if (k === 'id') this.#lastId = this.#savedId = v
          else if (k.startsWith('s:')) {
            const colon = v.lastIndexOf(':')
            this.#from.set(k.slice(2), { inc: v.slice(0, colon), seq: Number(v.slice(colon + 1)) })
            this.#saved.set(k.slice(2), { inc: v.slice(0, colon), seq: Number(v.slice(colon + 1)) })
          }
        }
        // what the previous run of this node id announced stays in force until the broker
        // attached (onMessage: its stored sessions routed again), then the stale part goes:
        // publishes meanwhile wait in the inbox instead of going nowhere
        this.#announced.clear()
        for (const f of await this.#pub.smembers(this.#routesOf(this.nodeId))) this.#announced.add(f)
        this.#sharesAnnounced.clear()
        await this.#pub.del(this.#sharesOf(this.nodeId))
        await this.#announce()
        // the other nodes' tables are loaded before open() resolves
        await Promise.all(await this.#beat())
      } catch (err) {
        throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: expected to connect and subscribe to ${this.#channel}, got ${(err as Error).message}`, { cause: err })
      }
      this.#reading = this.#readLoop()
      this.#ready = true
      this.#scheduleAnnounce() // changes made while opening
      this.#timer = setInterval(() => { this.#beat().catch(() => {}) }, this.#heartbeatMs)
      this.#timer.unref()
    })()
    return this.#opening
  }

  /**
   * Announce liveness; load the tables of nodes alive but unknown, forget dead nodes.
   * Returns the loads started.
   */
  async #beat (): Promise<Array<Promise<void>>> {
    const had = await this.#pub.eval(BEAT, 1, this.#nodes, Date.now(), this.nodeId)
    if (this.#beaten && had === 0 && !this.#closed) {
      this.stats.declaredDead++
      this.#warn({ node: this.nodeId, deadAfterMs: this.#deadAfterMs }, 'RedisBus: this node was claimed dead by another node (no heartbeat reached Redis in time): its wills may have been published')
    }
    this.#beaten = true
    if (this.#deadHandler !== null) await this.#claimDead()
    const alive = await this.#pub.zrangebyscore(this.#nodes, Date.now() - this.#deadAfterMs, '+inf')
    const loads: Array<Promise<void>> = []
    for (const node of alive) {
      if (node !== this.nodeId && !this.#tables.has(node) && !this.#shareTables.has(node)) loads.push(this.#reload(node))
    }
    // a dead node's routes stay until a survivor adopts its sessions (that deletes them): what
    // is published meanwhile waits in its inbox, read by it when it restarts or by the adopter
    for (const node of [...this.#tables.keys()]) {
      if (!alive.includes(node)) loads.push(this.#reloadRoutes(node))
    }
    for (const node of [...this.#shareTables.keys()]) {
      if (!alive.includes(node)) this.#setShares(node, new Map())
    }
    return loads
  }

  /** Claim the nodes dead for `deadAfterMs`; the handler gets those this node won. */
  async #claimDead (): Promise<void> {
    const now = Date.now()
    const won = await this.#pub.eval(CLAIM_DEAD, 1, this.#nodes, now - this.#deadAfterMs, this.nodeId) as string[]
    for (let i = 0; i + 1 < won.length; i += 2) {
      const nodeId = won[i]!
      const downFor = Math.max(0, now - Number(won[i + 1]))
      this.#warn({ node: this.nodeId, dead: nodeId, downFor }, 'RedisBus: claimed a dead node')
      try {
        this.#deadHandler?.({ nodeId, downFor })
      } catch (err) {
        this.#warn({ node: this.nodeId, dead: nodeId, err: (err as Error).message }, 'RedisBus: the dead-node handler threw')
      }
    }
  }

  /**
   * This node adopted the sessions of dead node `dead` (see {@link Bus.adopt}): its routes
   * are announced before the dead node's route table is deleted (one connection: every node
   * reloads them in that order, so no publish finds neither), then the publishes of the dead
   * node's inbox are handed to `deliver` from its saved position, once more after a heartbeat (a
   * node that missed the notice reloads the tables within one), and deleted with its
   * position. Resolves with the publishes handed over.
   *
   * @throws RedisStoreError STORE_REDIS_ERR_CLOSED, STORE_REDIS_ERR_UNAVAILABLE
   */
  async adopt (dead: string, deliver: (message: BusMessage) => unknown): Promise<number> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisBus ${this.nodeId}: adopt after close()`)
    // at once: this node's own publishes reach the adopted sessions here, not through its inbox
    this.#setTable(dead, new Set())
    await this.open()
    const inbox = this.#inboxOf(dead)
    try {
      // the routes of the adopted sessions (added by the broker this tick) first
      await new Promise((resolve) => setImmediate(resolve))
      await this.#announce()
      const mine = packRecord({ type: 'routes', nodeId: this.nodeId }, Buffer.alloc(0))
      const theirs = packRecord({ type: 'routes', nodeId: dead }, Buffer.alloc(0))
      await Promise.all([
        this.#sharded ? this.#pub.spublish(this.#channel, mine) : this.#pub.publish(this.#channel, mine),
        this.#pub.del(this.#routesOf(dead)),
        this.#sharded ? this.#pub.spublish(this.#channel, theirs) : this.#pub.publish(this.#channel, theirs)
      ])
      const pos = await this.#pub.hgetall(`${inbox}:pos`)
      const from = new Map<string, { inc: string, seq: number }>()
      let id = pos.id ?? '0-0'
      for (const [k, v] of Object.entries(pos)) {
        if (!k.startsWith('s:')) continue
        const colon = v.lastIndexOf(':')
        from.set(k.slice(2), { inc: v.slice(0, colon), seq: Number(v.slice(colon + 1)) })
      }
      let n = 0
      for (let round = 0; round < 2; round++) {
        if (round === 1) await new Promise((resolve) => setTimeout(resolve, this.#heartbeatMs + 100))
        for (;;) {
          const entries = await this.#pub.xrangeBuffer(inbox, `(${id}`, '+', 'COUNT', 256) as Array<[Buffer, Buffer[]]>
          if (entries.length === 0) break
          id = entries[entries.length - 1]![0].toString()
          n += await this.#handOver(entries, from, deliver)
        }
      }
      await this.#pub.del(inbox, `${inbox}:pos`)
      return n
    } catch (err) {
      if (err instanceof RedisStoreError) throw err
      throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: adopting the inbox of ${dead} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * The publishes of a dead node's inbox entries (messages sent with sendTo are for it alone:
   * skipped), deduplicated by sequence number like this node's own; resolves with their count
   * once the store work the handler returned settled.
   */
  async #handOver (entries: Array<[Buffer, Buffer[]]>, from: Map<string, { inc: string, seq: number }>, deliver: (message: BusMessage) => unknown): Promise<number> {
    // #deliver hands to #handler and collects into #work: both swapped while it runs (synchronously)
    const own = this.#work
    const ownAt = this.#workAt
    const handler = this.#handler
    this.#work = null
    this.#workAt = []
    this.#handler = deliver
    const before = this.stats.delivered
    try {
      for (const [, fields] of entries) {
        let sender = ''
        let inc = ''
        let seq = 0
        let data: Buffer | null = null
        for (let i = 0; i + 1 < fields.length; i += 2) {
          const k = fields[i]![0]
          const v = fields[i + 1]!
          if (k === 0x6e /* n */) sender = v.toString()
          else if (k === 0x69 /* i */) inc = v.toString()
          else if (k === 0x73 /* s */) seq = Number(v.toString())
          else if (k === 0x64 /* d */) data = v
        }
        if (sender === '' || data === null) continue
        const last = from.get(sender)
        if (last !== undefined && last.inc === inc) {
          if (seq <= last.seq) continue
          last.seq = seq
        } else {
          from.set(sender, { inc, seq })
        }
        this.#deliver(sender, data)
      }
    } finally {
      const handed = this.#work ?? []
      this.#work = own
      this.#workAt = ownAt
      this.#handler = handler
      await Promise.allSettled(handed)
    }
    return this.stats.delivered - before
  }

  /** Reload `node`'s filters only (a dead node's: empty once it is adopted or gone). */
  #reloadRoutes (node: string): Promise<void> {
    return this.#pub.smembers(this.#routesOf(node)).then((filters) => {
      if (!this.#closed) this.#setTable(node, new Set(filters))
    }, () => {})
  }

  // ───────── route table

  /** A subscription (or shared group) on `filter` exists on this node. */
  addRoute (filter: string): void {
    const n = this.#local.get(filter) ?? 0
    this.#local.set(filter, n + 1)
    if (n === 0) this.#scheduleAnnounce()
  }

  /** One subscription (or shared group) on `filter` left this node. */
  removeRoute (filter: string): void {
    const n = this.#local.get(filter)
    if (n === undefined) return
    if (n > 1) {
      this.#local.set(filter, n - 1)
      return
    }
    this.#local.delete(filter)
    this.#scheduleAnnounce()
  }

  /**
   * This node's group `share` has `total` members, `online` connected (0, 0: none left).
   * Written to Redis with the route table; used by this node's picks at once.
   */
  setShare (share: string, online: number, total: number): void {
    const value = total > 0 ? `${online}:${total}` : undefined
    if (this.#shareLocal.get(share) === value) return
    if (value === undefined) this.#shareLocal.delete(share)
    else this.#shareLocal.set(share, value)
    this.#putShare(this.nodeId, share, value)
    this.#scheduleAnnounce()
  }

  /** Record `node`'s members of `share` (`value` undefined: none) in the groups known. */
  #putShare (node: string, share: string, value: string | undefined): void {
    let g = this.#shares.get(share)
    if (value === undefined) {
      if (g === undefined) return
      g.set(node, -1)
      if (g.nodes.length === 0) {
        this.#shares.delete(share)
        this.#shareTrie.remove(g.filter, g)
      }
      return
    }
    const colon = value.indexOf(':')
    const online = Number(value.slice(0, colon))
    const total = Number(value.slice(colon + 1))
    if (!(online >= 0 && total > 0)) return // not ours (another writer on the key): ignored
    if (g === undefined) {
      const slash = share.startsWith('$share/') ? share.indexOf('/', 7) : -1
      if (slash < 0) return
      g = new ShareGroup(share, share.slice(slash + 1))
      try {
        this.#shareTrie.add(g.filter, g)
      } catch {
        return // not a filter: ignored
      }
      this.#shares.set(share, g)
    }
    g.set(node, online)
  }

  #setShares (node: string, shares: Map<string, string>): void {
    const old = this.#shareTables.get(node)
    if (old !== undefined) for (const k of old.keys()) if (!shares.has(k)) this.#putShare(node, k, undefined)
    for (const [k, v] of shares) if (old?.get(k) !== v) this.#putShare(node, k, v)
    if (shares.size === 0) this.#shareTables.delete(node)
    else this.#shareTables.set(node, shares)
  }

  /**
   * For each group anywhere whose filter matches `topic`, the node to serve this message
   * (see {@link ShareGroup.pick}); null when none matches. No allocation when none does.
   */
  pickShares (topic: string): SharePick[] | null {
    if (this.#shares.size === 0) return null
    this.#shareTrie.forEachMatch(topic, this.#pick)
    const picks = this.#picks
    this.#picks = null
    return picks
  }

  /** A node other than `exclude` to serve group `share`, or null. */
  pickShare (share: string, exclude: string): string | null {
    return this.#shares.get(share)?.pick(exclude)?.[1] ?? null
  }

  #scheduleAnnounce (): void {
    if (this.#announcing || !this.#ready || this.#closed) return
    this.#announcing = true
    setImmediate(() => {
      this.#announcing = false
      this.#announce().catch((err: unknown) => { this.#warn({ node: this.nodeId, err: (err as Error).message }, 'RedisBus: writing the route table failed') })
    })
  }

  /** Write the changes of this node's filters to Redis, then notify the other nodes. */
  async #announce (): Promise<void> {
    const add: string[] = []
    const del: string[] = []
    for (const f of this.#local.keys()) if (!this.#announced.has(f)) add.push(f)
    if (this.#handler !== null) for (const f of this.#announced) if (!this.#local.has(f)) del.push(f)
    const shareSet: string[] = []
    const shareDel: string[] = []
    for (const [k, v] of this.#shareLocal) if (this.#sharesAnnounced.get(k) !== v) shareSet.push(k, v)
    for (const k of this.#sharesAnnounced.keys()) if (!this.#shareLocal.has(k)) shareDel.push(k)
    if (add.length === 0 && del.length === 0 && shareSet.length === 0 && shareDel.length === 0) return
    for (const f of add) this.#announced.add(f)
    for (const f of del) this.#announced.delete(f)
    const sharesBefore = new Map(this.#sharesAnnounced)
    for (let i = 0; i < shareSet.length; i += 2) this.#sharesAnnounced.set(shareSet[i]!, shareSet[i + 1]!)
    for (const k of shareDel) this.#sharesAnnounced.delete(k)
    const key = this.#routesOf(this.nodeId)
    const shares = this.#sharesOf(this.nodeId)
    try {
      if (add.length > 0) await this.#pub.sadd(key, add)
      if (del.length > 0) await this.#pub.srem(key, del)
      if (shareSet.length > 0) await this.#pub.hset(shares, ...shareSet)
      if (shareDel.length > 0) await this.#pub.hdel(shares, ...shareDel)
    } catch (err) {
      // what is announced is unknown: write everything again on the next change
      for (const f of add) this.#announced.delete(f)
      for (const f of del) this.#announced.add(f)
      this.#sharesAnnounced.clear()
      for (const [k, v] of sharesBefore) this.#sharesAnnounced.set(k, v)
      throw err
    }
    const notice = packRecord({ type: 'routes', nodeId: this.nodeId }, Buffer.alloc(0))
    if (this.#sharded) await this.#pub.spublish(this.#channel, notice)
    else await this.#pub.publish(this.#channel, notice)
  }

  #reloadAll (): void {
    for (const node of new Set([...this.#tables.keys(), ...this.#shareTables.keys()])) this.#reload(node).catch(() => {})
  }

  /**
   * Read `node`'s filters from Redis (one read at a time per node; again if asked meanwhile).
   * Resolves when this read is done (never rejects).
   */
  #reload (node: string): Promise<void> {
    const state = this.#loading.get(node)
    if (state !== undefined) {
      this.#loading.set(node, 'again')
      return DONE
    }
    this.#loading.set(node, true)
    return Promise.all([this.#pub.smembers(this.#routesOf(node)), this.#pub.hgetall(this.#sharesOf(node))]).then(([filters, shares]) => {
      if (this.#closed) return
      this.#setTable(node, new Set(filters))
      this.#setShares(node, new Map(Object.entries(shares)))
    }, () => {}).finally(() => {
      const again = this.#loading.get(node) === 'again'
      this.#loading.delete(node)
      if (again) this.#reload(node).catch(() => {})
    })
  }

  #setTable (node: string, filters: Set<string>): void {
    const old = this.#tables.get(node)
    if (old !== undefined) {
      for (const f of old) if (!filters.has(f)) this.#routes.remove(f, node)
    }
    for (const f of filters) {
      if (old === undefined || !old.has(f)) {
        try {
          this.#routes.add(f, node)
        } catch {
          filters.delete(f) // not a filter (another writer on the key): ignored
        }
      }
    }
    if (filters.size === 0) this.#tables.delete(node)
    else this.#tables.set(node, filters)
    this.#scratchTopic = null
  }

  /**
   * Whether another node has a subscription matching `topic` (the broker then sends the
   * publish; otherwise it skips encoding it). The targets found are reused by `send`.
   */
  interested (topic: string): boolean {
    return this.#targets(topic).length > 0
  }

  #targets (topic: string): readonly string[] {
    if (this.#tables.size === 0) return NO_TARGETS
    if (this.#scratchTopic !== topic) {
      this.#scratch = []
      this.#routes.forEachMatch(topic, this.#collect)
      this.#scratchTopic = topic
    }
    return this.#scratch
  }

  // ───────── sending

  /**
   * A publish: added to this tick's batch for every node with a matching subscription;
   * resolves once those batches are written to the target nodes' inbox streams (at once when
   * no node needs it). Other messages: one PUBLISH on the control channel.
   *
   * @throws RedisStoreError STORE_REDIS_ERR_CLOSED, STORE_REDIS_ERR_UNAVAILABLE
   */
  send (message: BusMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisBus ${this.nodeId}: send after close()`))
    if (message.type !== 'publish' && message.type !== 'shared') return this.#control(message)
    const targets = message.type === 'publish' ? this.#targets(message.message.topic) : NO_TARGETS
    const shares = message.shares
    let frame: Buffer | null = null
    if (targets.length > 0) {
      frame = encodeFrame(message.message, shares, message.type === 'shared')
      if (this.#over.size > 0 && message.message.qos === 0) {
        // QoS 0 is never held: not sent to a node beyond its backlog bound
        for (const node of targets) {
          if (this.#over.has(node)) this.stats.dropped++
          else this.#queue(node, frame)
        }
      } else {
        for (const node of targets) this.#queue(node, frame)
      }
    }
    if (shares !== undefined) {
      // the nodes picked for shared groups, once each, besides those with a matching route
      for (let i = 0; i < shares.length; i++) {
        const node = shares[i]![1]
        if (node === this.nodeId || targets.includes(node) || pickedBefore(shares, i)) continue
        frame ??= encodeFrame(message.message, shares, message.type === 'shared')
        this.#queue(node, frame)
      }
    }
    if (frame === null) return DONE
    if (this.#batch === null) {
      let res!: () => void
      let rej!: (err: unknown) => void
      const promise = new Promise<void>((resolve, reject) => { res = resolve; rej = reject })
      promise.catch(() => {}) // reported to each caller; never an unhandled rejection here
      this.#batch = { promise, resolve: res, reject: rej }
      setImmediate(() => { this.#flush() })
    }
    return this.#batch.promise
  }

  #queue (node: string, frame: Buffer): void {
    let out = this.#out.get(node)
    if (out === undefined) this.#out.set(node, (out = []))
    out.push(frame)
  }

  #flush (): void {
    const batch = this.#batch!
    this.#batch = null
    const out = [...this.#out]
    this.#out.clear()
    const bounded = this.#maxBacklog !== Infinity
    const write = (): Promise<unknown[]> => {
      const writes: Array<Promise<unknown>> = []
      for (const [node, bufs] of out) {
        const seq = (this.#seq.get(node) ?? 0) + 1
        this.#seq.set(node, seq)
        const inbox = this.#inboxOf(node)
        // sent with the XADD, no extra round trip: the position the target saved
        if (bounded) writes.push(this.#pub.hget(`${inbox}:pos`, 'id'))
        writes.push(this.#pub.xadd(inbox, '*', 'n', this.nodeId, 'i', this.#incarnation, 's', String(seq), 'd', Buffer.concat(bufs)))
      }
      return Promise.all(writes)
    }
    // callbacks on one promise run in order: batches keep their order while opening
    const done = this.#ready ? write() : this.open().then(write)
    done.then((res) => {
      let held: Array<Promise<void>> | null = null
      if (bounded) {
        for (let i = 0; i < out.length; i++) {
          const [node, bufs] = out[i]!
          let u = this.#unsaved.get(node)
          if (u === undefined) this.#unsaved.set(node, (u = new Unsaved()))
          u.add(res[2 * i + 1] as string, bufs.length)
          u.saved(res[2 * i] as string | null)
          const wait = u.total > this.#maxBacklog ? this.#overBacklog(node, u) : this.#over.get(node)
          if (wait !== undefined) (held ??= []).push(wait)
        }
      }
      if (held === null) batch.resolve()
      else {
        this.stats.held++
        Promise.all(held).then(() => { batch.resolve() }, () => { batch.resolve() })
      }
    }, (err: unknown) => {
      batch.reject(new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: writing publishes to the bus failed: ${(err as Error).message}`, { cause: err }))
    })
  }

  /**
   * One message into `nodeId`'s inbox stream (durable; in order with the publish batches
   * written there, which go first when they wait for this tick's flush).
   *
   * @throws RedisStoreError STORE_REDIS_ERR_CLOSED, STORE_REDIS_ERR_UNAVAILABLE
   */
  async sendTo (nodeId: string, message: BusMessage): Promise<void> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisBus ${this.nodeId}: sendTo after close()`)
    await this.open()
    const data = packRecord(message, Buffer.alloc(0))
    const seq = (this.#seq.get(nodeId) ?? 0) + 1
    this.#seq.set(nodeId, seq)
    try {
      await this.#pub.xadd(this.#inboxOf(nodeId), '*', 'n', this.nodeId, 'i', this.#incarnation, 's', String(seq), 'c', data)
    } catch (err) {
      throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: sending a ${message.type} message to ${nodeId} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * `node` has more than maxInboxBacklog publishes of this node not stored: a wait (one per
   * node) that polls the position it saves and resolves once it is within the bound again, the
   * node no longer routed to (dead, gone: what it has not stored is then forgotten here), or
   * this bus closed.
   */
  #overBacklog (node: string, u: Unsaved): Promise<void> {
    let wait = this.#over.get(node)
    if (wait !== undefined) return wait
    this.#warn({ node: this.nodeId, target: node, unsaved: u.total, maxInboxBacklog: this.#maxBacklog }, 'RedisBus: a node has more publishes of this one than maxInboxBacklog not stored: QoS 1/2 acknowledgements of publishes to it wait, QoS 0 ones to it are dropped')
    const pos = `${this.#inboxOf(node)}:pos`
    wait = (async () => {
      for (;;) {
        if (this.#closed) break
        if (!this.#tables.has(node) && !this.#shareTables.has(node)) {
          this.#unsaved.delete(node)
          break
        }
        await new Promise((resolve) => setTimeout(resolve, BACKLOG_POLL_MS))
        try {
          u.saved(await this.#pub.hget(pos, 'id'))
        } catch {
          continue // Redis unreachable: asked again at the next poll
        }
        if (u.total <= this.#maxBacklog) break
      }
      this.#over.delete(node)
    })()
    this.#over.set(node, wait)
    return wait
  }

  async #control (message: BusMessage): Promise<void> {
    await this.open()
    const data = packRecord(message, Buffer.alloc(0))
    try {
      if (this.#sharded) await this.#pub.spublish(this.#channel, data)
      else await this.#pub.publish(this.#channel, data)
    } catch (err) {
      throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: publishing a ${message.type} message failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** A control message (or a route notice) from the pub/sub channel. */
  #receive (data: Buffer): void {
    let head: Record<string, unknown>
    try {
      head = unpack(data, this.#channel).head
    } catch {
      return // not ours (another writer on the channel): ignored
    }
    if (head.nodeId === this.nodeId || typeof head.nodeId !== 'string') return
    if (head.type === 'routes') {
      this.#reload(head.nodeId).catch(() => {})
      return
    }
    this.#handler?.(head as unknown as BusMessage)
  }

  // ───────── receiving

  async #readLoop (): Promise<void> {
    // nothing is read before there is a handler (it would be marked read, handed to nobody)
    if (this.#handler === null) await Promise.race([this.#handlerSet.promise, this.#closing.promise])
    while (!this.#closed) {
      let res: Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null
      try {
        res = await this.#reader.xreadBuffer('COUNT', 256, 'BLOCK', this.#blockMs, 'STREAMS', this.#inbox, this.#lastId) as typeof res
      } catch {
        if (this.#closed) return
        // a dropped connection: ioredis reconnects; read again from the same id
        await new Promise((resolve) => setTimeout(resolve, 50))
        continue
      }
      if (res === null || this.#closed) continue
      let batch: ReadBatch
      try {
        batch = this.#process(res[0]![1])
      } catch (err) {
        this.#warn({ node: this.nodeId, err: (err as Error).message }, 'RedisBus: processing inbox entries failed')
        continue
      }
      await this.#settle(batch)
    }
  }

  /**
   * Wait for the broker's work on `batch` (its store writes, and room in full queues: the
   * inbox is not read meanwhile), then save the position past it and trim the inbox. A
   * rejected write: the position is saved up to the entry before it; reading stops for
   * `retryMs` and resumes from that entry (it and the entries after it are delivered again).
   */
  async #settle (batch: ReadBatch): Promise<void> {
    const work = this.#work
    const at = this.#workAt
    this.#work = null
    this.#workAt = []
    if (work !== null) {
      // one promise per batch: the broker returns its writes only where there are some
      const all = work.length === 1 ? work[0]! : Promise.all(work)
      try {
        await Promise.race([all, this.#closing.promise])
      } catch (err) {
        const results = await Promise.allSettled(work)
        let first = batch.ids.length
        for (let i = 0; i < results.length; i++) if (results[i]!.status === 'rejected' && at[i]! < first) first = at[i]!
        this.#save(batch, first).catch(() => {})
        this.stats.storeFailures++
        this.#warn({ node: this.nodeId, entry: batch.ids[first], retryMs: this.#retryMs, err: (err as Error).message }, 'RedisBus: the broker could not store a message from the inbox: reading stops, then resumes from it')
        await Promise.race([new Promise((resolve) => setTimeout(resolve, this.#retryMs)), this.#closing.promise])
        // read again from the first entry not stored, with the sequence numbers saved with it
        this.#lastId = this.#savedId
        this.#from.clear()
        for (const [k, v] of this.#saved) this.#from.set(k, { inc: v.inc, seq: v.seq })
        return
      }
      if (this.#closed) {
        // closing: a graceful stop finishes its writes soon; else the batch is read again
        const done = await Promise.race([
          Promise.resolve(all).then(() => true, () => false),
          new Promise<boolean>((resolve) => setTimeout(() => { resolve(false) }, CLOSE_GRACE_MS))
        ])
        if (!done) return
        await this.#save(batch, batch.ids.length) // before close() disconnects
        return
      }
    }
    this.#save(batch, batch.ids.length).catch(() => {})
  }

  /** Save the position past the first `n` entries of `batch` (their work is durable), then trim. */
  #save (batch: ReadBatch, n: number): Promise<unknown> {
    if (n === 0) return DONE
    const id = batch.ids[n - 1]!
    const save: string[] = ['id', id]
    const changed = new Set<string>()
    for (let i = 0; i < n; i++) {
      const mark = batch.marks[i]
      if (mark === null || mark === undefined) continue
      this.#saved.set(mark.sender, { inc: mark.inc, seq: mark.seq })
      changed.add(mark.sender)
    }
    for (const s of changed) {
      const f = this.#saved.get(s)!
      save.push(`s:${s}`, `${f.inc}:${f.seq}`)
    }
    this.#savedId = id
    return this.#pub.hset(this.#pos, ...save)
      .then(() => this.#pub.xtrim(this.#inbox, 'MINID', nextId(id)))
      .catch(() => {})
  }

  #process (entries: Array<[Buffer, Buffer[]]>): ReadBatch {
    const batch: ReadBatch = { ids: [], marks: [] }
    this.#work = null
    this.#workAt = []
    for (const [rawId, fields] of entries) {
      this.#lastId = rawId.toString()
      this.#entry = batch.ids.length
      batch.ids.push(this.#lastId)
      batch.marks.push(null)
      this.stats.entries++
      let sender = ''
      let inc = ''
      let seq = 0
      let data: Buffer | null = null
      let control = false
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const k = fields[i]![0]
        const v = fields[i + 1]!
        if (k === 0x6e /* n */) sender = v.toString()
        else if (k === 0x69 /* i */) inc = v.toString()
        else if (k === 0x73 /* s */) seq = Number(v.toString())
        else if (k === 0x64 /* d */) data = v
        else if (k === 0x63 /* c */) {
          data = v
          control = true
        }
      }
      if (sender === '' || data === null || !(seq > 0)) {
        this.stats.corrupt++
        continue
      }
      const last = this.#from.get(sender)
      if (last !== undefined && last.inc === inc) {
        if (seq <= last.seq) {
          this.stats.replays++
          continue
        }
        if (seq > last.seq + 1) {
          this.stats.gaps += seq - last.seq - 1
          this.#warn({ node: this.nodeId, from: sender, expected: last.seq + 1, got: seq }, 'RedisBus: publishes from a node never arrived (their publishers were not acknowledged)')
        }
        last.seq = seq
      } else {
        // a sender's new incarnation starts at 1
        if (seq > 1) {
          this.stats.gaps += seq - 1
          this.#warn({ node: this.nodeId, from: sender, expected: 1, got: seq }, 'RedisBus: publishes from a node never arrived (their publishers were not acknowledged)')
        }
        this.#from.set(sender, { inc, seq })
      }
      batch.marks[batch.marks.length - 1] = { sender, inc, seq }
      if (control) this.#deliverControl(sender, data)
      else this.#deliver(sender, data)
    }
    return batch
  }

  /** Hand `message` to the broker; keep what it returns to wait for (a promise: its store work). */
  #hand (message: BusMessage): void {
    const r = this.#handler?.(message)
    if (r !== null && r !== undefined && typeof (r as PromiseLike<unknown>).then === 'function') {
      (this.#work ??= []).push(r as PromiseLike<unknown>)
      this.#workAt.push(this.#entry)
    }
  }

  /** A message sent with sendTo. */
  #deliverControl (sender: string, data: Buffer): void {
    let head: Record<string, unknown>
    try {
      head = unpack(data, this.#inbox).head
    } catch {
      this.stats.corrupt++
      return
    }
    if (typeof head.type !== 'string' || head.nodeId !== sender) {
      this.stats.corrupt++
      return
    }
    try {
      this.#hand(head as unknown as BusMessage)
    } catch (err) {
      this.#warn({ node: this.nodeId, from: sender, err: (err as Error).message }, 'RedisBus: the message handler threw')
    }
  }

  #deliver (sender: string, data: Buffer): void {
    for (let at = 0; at + 4 <= data.length;) {
      const len = data.readUInt32BE(at)
      const end = at + 4 + len
      if (end > data.length) {
        this.stats.corrupt++
        return
      }
      let body = data.subarray(at + 4, end)
      at = end
      let picks: ReturnType<typeof decodeShares> = null
      if (len > 0 && (body[0]! & 0xC0) === SHARES) {
        picks = decodeShares(body, this.#self)
        if (picks === null) {
          this.stats.corrupt++
          continue
        }
        body = picks.inner
      }
      const m = len === 0 ? null : decodeFrame(body, this.#inbox)
      if (m === null) {
        this.stats.corrupt++
        continue
      }
      this.stats.delivered++
      try {
        if (picks === null || (!picks.only && picks.shares.length === 0)) this.#hand({ type: 'publish', nodeId: sender, message: m })
        else if (picks.only) this.#hand({ type: 'shared', nodeId: sender, message: m, shares: picks.shares })
        else this.#hand({ type: 'publish', nodeId: sender, message: m, shares: picks.shares })
      } catch (err) {
        this.#warn({ node: this.nodeId, from: sender, err: (err as Error).message }, 'RedisBus: the message handler threw')
      }
    }
  }

  /**
   * Register the single receiver of messages from other nodes. For a publish it may return a
   * promise (the broker's store writes for it, or room in a full queue): the position in the
   * inbox is saved past an entry, and the entry trimmed, only once the promises of every entry
   * up to it resolved, and the inbox is not read further meanwhile. A rejection: reading
   * stops for `retryMs`, then resumes from the first entry not stored (delivered again).
   */
  onMessage (handler: (message: BusMessage) => unknown): void {
    this.#handler = handler
    this.#scheduleAnnounce() // the previous run's stale routes go now
    this.#handlerSet.resolve()
  }

  /**
   * Register the single receiver of dead-node claims: called on this node for each node that
   * stopped beating for `deadAfterMs` and that this node claimed (exactly one live node with
   * a handler claims each death). Set it before `open()`; nodes without one claim nothing.
   */
  onNodeDead (handler: (dead: DeadNode) => void): void {
    this.#deadHandler = handler
  }

  /** Nodes that announced themselves within `deadAfterMs`, this one included. */
  async aliveNodes (): Promise<string[]> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisBus ${this.nodeId}: aliveNodes after close()`)
    await this.open()
    try {
      return await this.#pub.zrangebyscore(this.#nodes, Date.now() - this.#deadAfterMs, '+inf')
    } catch (err) {
      throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: reading ${this.#nodes} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Stop the heartbeat and reading, leave the node set (other nodes stop routing here),
   * close the connections. The inbox position stays stored. Idempotent.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    // publishes of this tick are written first
    if (this.#batch !== null) await this.#batch.promise.catch(() => {})
    this.#closed = true
    this.#closing.resolve()
    if (this.#timer !== null) clearInterval(this.#timer)
    if (this.#opening !== null) {
      await this.#opening.catch(() => {})
      await this.#pub.zrem(this.#nodes, this.nodeId).catch(() => {})
      // other nodes stop routing here at once
      await this.#pub.del(this.#routesOf(this.nodeId), this.#sharesOf(this.nodeId)).catch(() => {})
      const notice = packRecord({ type: 'routes', nodeId: this.nodeId }, Buffer.alloc(0))
      await (this.#sharded ? this.#pub.spublish(this.#channel, notice) : this.#pub.publish(this.#channel, notice)).catch(() => {})
    }
    this.#reader.disconnect()
    await this.#reading?.catch(() => {})
    this.#pub.disconnect()
    this.#sub.disconnect()
  }
}
