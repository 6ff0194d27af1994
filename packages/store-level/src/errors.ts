/**
 * Errors of @culex/store-level. Check `err.code` (or {@link isLevelStoreError});
 * `instanceof` also holds across two installed copies of the package.
 */
import { defineErrors, registryOf } from '@culex/errors'

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

/**
 * An error raised by a {@link LevelStore}.
 * `instanceof` also holds for one from another installed copy of this package.
 *
 * `new LevelStoreError(code, message, { cause? })`; `cause` is kept as `err.cause`.
 */
export class LevelStoreError extends defineErrors('LevelStoreError', registryOf(Object.values(LevelStoreErrorCodes))) {}

/** Whether `err` is a LevelStoreError (from any installed copy of this package). */
export function isLevelStoreError (err: unknown): err is LevelStoreError {
  return err instanceof LevelStoreError
}
