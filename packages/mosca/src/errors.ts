/**
 * Errors raised by `@culex/mosca` itself (the engine's `BrokerError`s and the stores' errors
 * pass through unchanged).
 */

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

const BRAND = Symbol.for('@culex/mosca.MoscaError')

/** The one error class of @culex/mosca. Check `code`, not the message text. */
export class MoscaError extends Error {
  readonly code: MoscaErrorCode

  constructor (code: MoscaErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'MoscaError'
    this.code = code
    ;(this as unknown as Record<symbol, boolean>)[BRAND] = true
  }

  static override [Symbol.hasInstance] (value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
  }
}

/** True for a {@link MoscaError}, from any installed copy of this package. */
export function isMoscaError (value: unknown): value is MoscaError {
  return value instanceof MoscaError
}
