/**
 * Building the ioredis connection: URL or options, password and TLS passed through, and
 * the settings that keep every command bounded in time while Redis is away.
 */
import { Redis, type RedisOptions } from 'ioredis'

/** Connection options shared by {@link RedisStore} and {@link RedisBus}. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  url?: string
  /** ioredis options (host, port, username, password, tls, db, sentinels, …); merged after `url`. */
  redis?: RedisOptions
  /** Password (AUTH); overrides the URL's. */
  password?: string
  /** TLS options for `tls.connect` (e.g. `{ ca, servername }`); `rediss://` implies `{}`. */
  tls?: RedisOptions['tls']
  /**
   * Longest wait for one command, ms, including time queued while reconnecting. Default 5000.
   * A command that times out rejects with STORE_REDIS_ERR_UNAVAILABLE.
   */
  commandTimeout?: number
}

/** A lazily connecting ioredis client with bounded commands. */
export function createRedis (opts: RedisConnectionOptions, extra: RedisOptions = {}): Redis {
  const o: RedisOptions = {
    lazyConnect: true,
    commandTimeout: opts.commandTimeout ?? 5000,
    // a command in flight when the connection drops is retried once after reconnecting,
    // then fails; commands issued while disconnected wait (up to commandTimeout) in the queue
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    // Off on purpose: commands are written to the socket as they are issued anyway (one
    // connection, replies in order), and ioredis's auto-pipelining crashes the process
    // ("results[i] is not iterable") when a batch of EVALSHA meets NOSCRIPT (seen with
    // 1000 concurrent putRetained on a fresh server).
    enableAutoPipelining: false,
    ...opts.redis,
    ...extra
  }
  if (opts.password !== undefined) o.password = opts.password
  if (opts.tls !== undefined) o.tls = opts.tls
  return opts.url === undefined ? new Redis(o) : new Redis(opts.url, o)
}
