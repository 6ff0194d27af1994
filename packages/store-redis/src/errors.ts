/**
 * Errors of @culex/store-redis. Check `err.code` (or {@link isRedisStoreError}) rather than
 * `instanceof`: two installed copies of the package have two classes.
 */

/** Every code a RedisStore or RedisBus raises. Codes are public API. */
export const RedisStoreErrorCodes = {
  /** An operation after `close()`. */
  STORE_REDIS_ERR_CLOSED: 'STORE_REDIS_ERR_CLOSED',
  /**
   * Redis did not answer: not reachable, connection lost, or no reply within
   * `commandTimeout`. The operation may or may not have been applied.
   */
  STORE_REDIS_ERR_UNAVAILABLE: 'STORE_REDIS_ERR_UNAVAILABLE',
  /** A stored value does not decode. */
  STORE_REDIS_ERR_CORRUPT: 'STORE_REDIS_ERR_CORRUPT',
  /**
   * The options do not make a connection: a malformed `redis+cluster://` URL, `cluster`
   * together with a cluster URL, or a `prefix` with `{` or `}` on a Cluster. Thrown by the
   * constructor.
   */
  STORE_REDIS_ERR_OPTIONS: 'STORE_REDIS_ERR_OPTIONS'
} as const

/** One of {@link RedisStoreErrorCodes}. */
export type RedisStoreErrorCode = keyof typeof RedisStoreErrorCodes

const BRAND = Symbol.for('culex.RedisStoreError')

/** An error raised by a {@link RedisStore} or {@link RedisBus}. */
export class RedisStoreError extends Error {
  readonly code: RedisStoreErrorCode
  readonly [BRAND] = true

  constructor (code: RedisStoreErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'RedisStoreError'
    this.code = code
  }
}

/** Whether `err` is a RedisStoreError (from any installed copy of this package). */
export function isRedisStoreError (err: unknown): err is RedisStoreError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true
}
