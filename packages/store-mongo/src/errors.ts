/**
 * Errors of @culex/store-mongo. Check `err.code` (or {@link isMongoStoreError});
 * `instanceof` also holds across two installed copies of the package.
 */
import { defineErrors, registryOf } from '@culex/errors'

/** Every code a MongoStore raises. Codes are public API. */
export const MongoStoreErrorCodes = {
  /** An operation after `close()`. */
  STORE_MONGO_ERR_CLOSED: 'STORE_MONGO_ERR_CLOSED',
  /** The server could not be reached, or an operation failed (see `cause`). */
  STORE_MONGO_ERR_UNAVAILABLE: 'STORE_MONGO_ERR_UNAVAILABLE'
} as const

/** One of {@link MongoStoreErrorCodes}. */
export type MongoStoreErrorCode = keyof typeof MongoStoreErrorCodes

/**
 * An error raised by a {@link MongoStore}.
 * `instanceof` also holds for one from another installed copy of this package.
 *
 * `new MongoStoreError(code, message, { cause? })`; `cause` is kept as `err.cause`.
 */
export class MongoStoreError extends defineErrors('MongoStoreError', registryOf(Object.values(MongoStoreErrorCodes))) {}

/** Whether `err` is a MongoStoreError (from any installed copy of this package). */
export function isMongoStoreError (err: unknown): err is MongoStoreError {
  return err instanceof MongoStoreError
}
