/**
 * Errors raised by `@culex/mosca` itself (the engine's `BrokerError`s and the stores' errors
 * pass through unchanged).
 */
import { defineErrors, registryOf } from '@culex/errors'

/** Every error code of this package. */
export const MoscaErrorCodes = {
  /** A setting Culex cannot honour, or a bad value (names the setting and what is supported). */
  MOSCA_ERR_SETTINGS: 'MOSCA_ERR_SETTINGS',
  /** A store or bus package needed by the settings is not installed or not built. */
  MOSCA_ERR_PACKAGE: 'MOSCA_ERR_PACKAGE',
  /** A callback answer Culex cannot carry out (e.g. `authorizePublish` returning a new payload). */
  MOSCA_ERR_UNSUPPORTED: 'MOSCA_ERR_UNSUPPORTED'
} as const

/** A stable `MOSCA_ERR_*` code. */
export type MoscaErrorCode = keyof typeof MoscaErrorCodes

/**
 * The one error class of @culex/mosca. Check `code`, not the message text.
 * `instanceof` also holds for one from another installed copy of this package.
 *
 * `new MoscaError(code, message, { cause? })`; `cause` is kept as `err.cause`.
 */
export class MoscaError extends defineErrors('MoscaError', registryOf(Object.values(MoscaErrorCodes))) {}

/** Whether `err` is a MoscaError (from any installed copy of this package). */
export function isMoscaError (err: unknown): err is MoscaError {
  return err instanceof MoscaError
}
