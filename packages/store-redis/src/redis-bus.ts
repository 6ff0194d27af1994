/**
 * `RedisBus`: the cluster {@link Bus} on Redis pub/sub plus a liveness sorted set.
 *
 * - Messages go to the channel `{prefix}bus` (one PUBLISH each); a node ignores its own.
 *   Pub/sub is at-most-once: a node that is disconnected from Redis misses what is published
 *   meanwhile (what must not be lost goes through the Store).
 * - Liveness: every `heartbeatMs` a node writes its clock into the sorted set
 *   `{prefix}nodes` (member node id, score ms); `aliveNodes()` returns the nodes seen within
 *   `deadAfterMs`. Node clocks are assumed roughly in sync (NTP); `deadAfterMs` absorbs skew.
 * - On a Redis Cluster both connections are ioredis `Cluster` clients and the channel is a
 *   sharded one (SPUBLISH / SSUBSCRIBE, Redis 7): every message goes to the one master that
 *   owns the channel's slot, over one connection from each publisher, so each node's messages
 *   arrive in the order it sent them. Classic PUBLISH would not keep that order: the Cluster
 *   client sends a keyless command to any node, and nodes forward to each other over separate
 *   links (seen in the two-node test: QoS 1 messages from one node arrived out of order).
 */
import { randomUUID } from 'node:crypto'
import { messageFromHead, messageHead, packRecord, type Bus, type BusMessage, type StoredMessage } from '@culex/broker'
import { unpack } from './codec.ts'
import { createClient, describeCluster, type RedisClient, type RedisConnectionOptions } from './connection.ts'
import { RedisStoreError } from './errors.ts'

/** Options of {@link RedisBus}. */
export interface RedisBusOptions extends RedisConnectionOptions {
  /** This node's id, unique in the cluster. Default: a random UUID. */
  nodeId?: string
  /** Prefix of the channel and keys. Default `culex:`. */
  prefix?: string
  /** How often this node announces itself, ms. Default 1000. */
  heartbeatMs?: number
  /** A node not heard from for this long is dead, ms. Default 3 × heartbeatMs. */
  deadAfterMs?: number
}

/**
 * A {@link Bus} over Redis pub/sub.
 *
 * @example
 * ```ts
 * import { Broker } from '@culex/broker'
 * import { RedisBus, RedisStore } from '@culex/store-redis'
 * const bus = new RedisBus({ url: 'redis://localhost:6379' })
 * await bus.open()
 * const broker = new Broker({ bus, store: new RedisStore({ url: 'redis://localhost:6379' }) })
 * ```
 */
export class RedisBus implements Bus {
  readonly nodeId: string
  readonly #pub: RedisClient
  readonly #sub: RedisClient
  readonly #channel: string
  readonly #nodes: string
  readonly #heartbeatMs: number
  readonly #deadAfterMs: number
  #handler: ((m: BusMessage) => void) | null = null
  #timer: NodeJS.Timeout | null = null
  #opening: Promise<void> | null = null
  #closed = false
  /** On a Redis Cluster: sharded pub/sub. */
  readonly #sharded: boolean

  /**
   * @param opts - connection options (a `cluster` or `redis+cluster://` URL: ioredis `Cluster`
   *   clients; classic PUBLISH reaches the subscribers of every node), `nodeId`, `prefix`,
   *   `heartbeatMs`, `deadAfterMs`
   * @throws RedisStoreError STORE_REDIS_ERR_OPTIONS (a malformed cluster URL or `cluster` option)
   */
  constructor (opts: RedisBusOptions = {}) {
    this.nodeId = opts.nodeId ?? randomUUID()
    const prefix = opts.prefix ?? 'culex:'
    this.#channel = `${prefix}bus`
    this.#nodes = `${prefix}nodes`
    this.#heartbeatMs = opts.heartbeatMs ?? 1000
    this.#deadAfterMs = opts.deadAfterMs ?? 3 * this.#heartbeatMs
    this.#sharded = describeCluster(opts) !== null
    this.#pub = createClient(opts)
    this.#sub = createClient(opts, {}, this.#sharded ? { shardedSubscribers: true } : {})
    this.#pub.on('error', () => {})
    this.#sub.on('error', () => {})
    this.#sub.on(this.#sharded ? 'smessageBuffer' : 'messageBuffer', (_channel: Buffer, data: Buffer) => { this.#receive(data) })
  }

  /**
   * Connect both connections, subscribe, and start the heartbeat. Called implicitly by `send`.
   *
   * @throws RedisStoreError STORE_REDIS_ERR_UNAVAILABLE
   */
  open (): Promise<void> {
    this.#opening ??= (async () => {
      try {
        await Promise.all([this.#pub.connect(), this.#sub.connect()])
        if (this.#sharded) await this.#sub.ssubscribe(this.#channel)
        else await this.#sub.subscribe(this.#channel)
        await this.#beat()
      } catch (err) {
        throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: expected to connect and subscribe to ${this.#channel}, got ${(err as Error).message}`, { cause: err })
      }
      this.#timer = setInterval(() => { this.#beat().catch(() => {}) }, this.#heartbeatMs)
      this.#timer.unref()
    })()
    return this.#opening
  }

  async #beat (): Promise<void> {
    await this.#pub.zadd(this.#nodes, Date.now(), this.nodeId)
  }

  #receive (data: Buffer): void {
    let m: BusMessage
    try {
      const { head, payload } = unpack(data, this.#channel)
      if (head.nodeId === this.nodeId) return
      m = head.type === 'publish'
        ? { type: 'publish', nodeId: head.nodeId as string, message: messageFromHead(head.m as Record<string, unknown>, payload) }
        : head as unknown as BusMessage
    } catch {
      return // not ours (another writer on the channel): ignored
    }
    this.#handler?.(m)
  }

  /** @throws RedisStoreError STORE_REDIS_ERR_CLOSED, STORE_REDIS_ERR_UNAVAILABLE */
  async send (message: BusMessage): Promise<void> {
    if (this.#closed) throw new RedisStoreError('STORE_REDIS_ERR_CLOSED', `RedisBus ${this.nodeId}: send after close()`)
    await this.open()
    const data = message.type === 'publish'
      ? packRecord({ type: 'publish', nodeId: message.nodeId, m: messageHead(message.message as StoredMessage) }, message.message.payload)
      : packRecord(message, Buffer.alloc(0))
    try {
      if (this.#sharded) await this.#pub.spublish(this.#channel, data)
      else await this.#pub.publish(this.#channel, data)
    } catch (err) {
      throw new RedisStoreError('STORE_REDIS_ERR_UNAVAILABLE', `RedisBus ${this.nodeId}: publishing a ${message.type} message failed: ${(err as Error).message}`, { cause: err })
    }
  }

  onMessage (handler: (message: BusMessage) => void): void {
    this.#handler = handler
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

  /** Stop the heartbeat, leave the node set, close both connections. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    if (this.#opening !== null) {
      await this.#opening.catch(() => {})
      await this.#pub.zrem(this.#nodes, this.nodeId).catch(() => {})
    }
    this.#pub.disconnect()
    this.#sub.disconnect()
  }
}
