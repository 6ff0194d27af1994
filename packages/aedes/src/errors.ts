/**
 * Errors raised by `@culex/aedes` itself (the engine's own errors are `BrokerError`s from
 * `@culex/broker` and pass through unchanged).
 */

/** Every error code of this package. */
export const AedesErrorCodes = {
  /** An option Culex cannot honour (an mqemitter, an aedes-persistence object, ...). */
  AEDES_ERR_OPTION: 'AEDES_ERR_OPTION',
  /** `authorizeSubscribe` answered with a different topic: rewriting a filter is not supported. */
  AEDES_ERR_SUBSCRIPTION_CHANGED: 'AEDES_ERR_SUBSCRIPTION_CHANGED',
  /** A topic or filter given to `publish` / `subscribe` / `unsubscribe` is invalid. */
  AEDES_ERR_TOPIC: 'AEDES_ERR_TOPIC',
  /** A part of the Aedes API that has no equivalent over the Culex engine (see MIGRATION.md). */
  AEDES_ERR_UNSUPPORTED: 'AEDES_ERR_UNSUPPORTED'
} as const

/** A stable `AEDES_ERR_*` code. */
export type AedesErrorCode = keyof typeof AedesErrorCodes

const BRAND = Symbol.for('@culex/aedes.AedesError')

/** The one error class of @culex/aedes. Check `code`, not the message text. */
export class AedesError extends Error {
  readonly code: AedesErrorCode

  constructor (code: AedesErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'AedesError'
    this.code = code
    ;(this as unknown as Record<symbol, boolean>)[BRAND] = true
  }

  static override [Symbol.hasInstance] (value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
  }
}

/** True for an {@link AedesError}, from any installed copy of this package. */
export function isAedesError (value: unknown): value is AedesError {
  return value instanceof AedesError
}
