/**
 * Errors of @culex/store-level. Check `err.code` (or {@link isLevelStoreError}) rather than
 * `instanceof`: two installed copies of the package have two classes.
 */

/** Every code a LevelStore raises. Codes are public API. */
export const LevelStoreErrorCodes = {
  /** An operation after `close()`. */
  STORE_LEVEL_ERR_CLOSED: 'STORE_LEVEL_ERR_CLOSED',
  /** The database could not be opened (e.g. locked by another process, or no permission). */
  STORE_LEVEL_ERR_OPEN: 'STORE_LEVEL_ERR_OPEN',
  /** A stored value does not decode. */
  STORE_LEVEL_ERR_CORRUPT: 'STORE_LEVEL_ERR_CORRUPT',
  /** A write batch failed; the store refuses further writes. */
  STORE_LEVEL_ERR_WRITE: 'STORE_LEVEL_ERR_WRITE'
} as const

/** One of {@link LevelStoreErrorCodes}. */
export type LevelStoreErrorCode = keyof typeof LevelStoreErrorCodes

const BRAND = Symbol.for('culex.LevelStoreError')

/** An error raised by a {@link LevelStore}. */
export class LevelStoreError extends Error {
  readonly code: LevelStoreErrorCode
  readonly [BRAND] = true

  constructor (code: LevelStoreErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'LevelStoreError'
    this.code = code
  }
}

/** Whether `err` is a LevelStoreError (from any installed copy of this package). */
export function isLevelStoreError (err: unknown): err is LevelStoreError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true
}
