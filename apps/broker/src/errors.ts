/**
 * Errors raised by the `culex` app: configuration, password and ACL files, stores, listeners.
 *
 * Every failure has a stable `CULEX_ERR_*` code (public: deprecated, never renamed). The
 * CLI prints `culex: <message>` and exits with {@link EXIT_CONFIG} for configuration errors
 * and {@link EXIT_RUNTIME} for failures while starting (a port in use, a store that cannot
 * open).
 */
import { defineErrors, registryOf } from '@culex/errors'

/** Every error code of the app, with the exit code the CLI uses for it. */
export const AppErrorCodes = {
  /** An option that does not exist (flag, `CULEX_*` variable or config-file key). */
  CULEX_ERR_UNKNOWN_OPTION: 2,
  /** An option value of the wrong type or out of range. */
  CULEX_ERR_INVALID_OPTION: 2,
  /** A flag that needs a value was last on the command line. */
  CULEX_ERR_MISSING_VALUE: 2,
  /** The config file cannot be read or parsed, or is not a mapping. */
  CULEX_ERR_CONFIG_FILE: 2,
  /** Options that are valid alone but not together (e.g. `--tls-port` without `--cert`). */
  CULEX_ERR_CONFLICT: 2,
  /** Listening on a non-loopback address with neither a password file nor `--allow-anonymous`. */
  CULEX_ERR_INSECURE: 2,
  /** A password file line is not `user:$6$...` or `user:$7$...`, or the file cannot be read. */
  CULEX_ERR_PASSWORD_FILE: 2,
  /** An ACL file line cannot be parsed, or the file cannot be read. */
  CULEX_ERR_ACL_FILE: 2,
  /** A `plugins:` module cannot be loaded, exports no hooks, or its init refused its options. */
  CULEX_ERR_PLUGIN: 2,
  /** A `bridges:` entry of the config file is malformed, or its TLS files cannot be read. */
  CULEX_ERR_BRIDGE: 2,
  /** `culex passwd` was called with wrong arguments. */
  CULEX_ERR_USAGE: 2,
  /** The selected store package is not installed or not built, or the store failed to open. */
  CULEX_ERR_STORE: 1,
  /** A listener could not bind (port in use, permission, bad certificate). */
  CULEX_ERR_LISTEN: 1
} as const satisfies Record<string, number>

/** A stable `CULEX_ERR_*` code. */
export type AppErrorCode = keyof typeof AppErrorCodes

/** Exit code for configuration errors (like most CLIs' usage errors). */
export const EXIT_CONFIG = 2
/** Exit code for failures at start-up that are not configuration errors. */
export const EXIT_RUNTIME = 1

/**
 * The one error class of the app. Check `code`, not the message text. `instanceof` also
 * holds for an `AppError` of another copy of this module.
 *
 * @example
 * ```ts
 * try { resolveConfig({ argv: ['--port', 'x'] }) } catch (err) { if (isAppError(err)) console.log(err.code) }
 * ```
 */
export class AppError extends defineErrors('AppError', registryOf(Object.keys(AppErrorCodes) as AppErrorCode[])) {
  /** The option (flag name without dashes, camelCase) the error is about, when there is one. */
  readonly option: string | undefined
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number

  /**
   * @param code - one of {@link AppErrorCodes}
   * @param message - what was expected, what arrived, where
   * @param opts - `option` names the option; `cause` is kept as `err.cause`
   */
  constructor (code: AppErrorCode, message: string, opts: { option?: string, cause?: unknown } = {}) {
    super(code, message, opts)
    this.option = opts.option
    this.exitCode = AppErrorCodes[code]
  }
}

/**
 * Whether `value` is an {@link AppError}, even from another copy of this module.
 *
 * @example
 * ```ts
 * if (isAppError(err)) process.exit(err.exitCode)
 * ```
 */
export function isAppError (value: unknown): value is AppError {
  return value instanceof AppError
}
