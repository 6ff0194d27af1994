/**
 * Errors raised by culex-bench. Every failure the CLI reports carries a stable `code`;
 * messages say what was expected, what happened and where (broker address, client id).
 */

/** Stable error codes of culex-bench. */
export const BenchErrorCode = {
  /** A command-line argument is unknown, missing a value, or out of range. Exit code 2. */
  badArgument: 'BENCH_ERR_BAD_ARGUMENT',
  /** The broker could not be reached (TCP connect failed or timed out). */
  unreachable: 'BENCH_ERR_UNREACHABLE',
  /** The broker refused the CONNECT or a SUBSCRIBE, or answered with an unexpected packet. */
  refused: 'BENCH_ERR_REFUSED',
  /** The broker closed a connection while the run was in progress. */
  disconnected: 'BENCH_ERR_DISCONNECTED',
  /** An expected answer (CONNACK, SUBACK, PUBACK, messages) did not arrive in time. */
  timeout: 'BENCH_ERR_TIMEOUT',
  /** The broker sent bytes that are not a well-formed MQTT frame. */
  protocol: 'BENCH_ERR_PROTOCOL',
  /** A broker process for the comparison could not be started. */
  brokerStart: 'BENCH_ERR_BROKER_START'
} as const

export type BenchErrorCodeValue = typeof BenchErrorCode[keyof typeof BenchErrorCode]

/** The one error class culex-bench throws. */
export class BenchError extends Error {
  readonly code: BenchErrorCodeValue
  constructor (code: BenchErrorCodeValue, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'BenchError'
    this.code = code
  }
}

/** True when `err` is a BenchError (checked by `code`, so it works across copies). */
export function isBenchError (err: unknown): err is BenchError {
  if (!(err instanceof Error)) return false
  const code = (err as Error & { code?: unknown }).code
  return typeof code === 'string' && code.startsWith('BENCH_ERR_')
}
