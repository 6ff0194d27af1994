/**
 * Errors of @culex/store-mongo. Check `err.code` (or {@link isMongoStoreError}) rather than
 * `instanceof`: two installed copies of the package have two classes.
 */

/** Every code a MongoStore raises. Codes are public API. */
export const MongoStoreErrorCodes = {
  /** An operation after `close()`. */
  STORE_MONGO_ERR_CLOSED: 'STORE_MONGO_ERR_CLOSED',
  /** The server could not be reached, or an operation failed (see `cause`). */
  STORE_MONGO_ERR_UNAVAILABLE: 'STORE_MONGO_ERR_UNAVAILABLE'
} as const

/** One of {@link MongoStoreErrorCodes}. */
export type MongoStoreErrorCode = keyof typeof MongoStoreErrorCodes

const BRAND = Symbol.for('culex.MongoStoreError')

/** An error raised by a {@link MongoStore}. */
export class MongoStoreError extends Error {
  readonly code: MongoStoreErrorCode
  readonly [BRAND] = true

  constructor (code: MongoStoreErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'MongoStoreError'
    this.code = code
  }
}

/** Whether `err` is a MongoStoreError (from any installed copy of this package). */
export function isMongoStoreError (err: unknown): err is MongoStoreError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true
}
