/**
 * Errors of @culex/store-redis. Check `err.code` (or {@link isRedisStoreError});
 * `instanceof` also holds across two installed copies of the package.
 */
import { defineErrors, registryOf } from '@culex/errors'

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

/**
 * An error raised by a {@link RedisStore} or {@link RedisBus}.
 * `instanceof` also holds for one from another installed copy of this package.
 *
 * `new RedisStoreError(code, message, { cause? })`; `cause` is kept as `err.cause`.
 */
export class RedisStoreError extends defineErrors('RedisStoreError', registryOf(Object.values(RedisStoreErrorCodes))) {}

/** Whether `err` is a RedisStoreError (from any installed copy of this package). */
export function isRedisStoreError (err: unknown): err is RedisStoreError {
  return err instanceof RedisStoreError
}
