/**
 * Errors raised by `@culex/aedes` itself (the engine's own errors are `BrokerError`s from
 * `@culex/broker` and pass through unchanged).
 */
import { defineErrors, registryOf } from '@culex/errors'

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

/**
 * The one error class of @culex/aedes. Check `code`, not the message text.
 * `instanceof` also holds for one from another installed copy of this package.
 *
 * `new AedesError(code, message, { cause? })`; `cause` is kept as `err.cause`.
 */
export class AedesError extends defineErrors('AedesError', registryOf(Object.values(AedesErrorCodes))) {}

/** Whether `err` is an AedesError (from any installed copy of this package). */
export function isAedesError (err: unknown): err is AedesError {
  return err instanceof AedesError
}
