/**
 * Errors raised by culex-bench. Every failure the CLI reports carries a stable `code`;
 * messages say what was expected, what happened and where (broker address, client id).
 */
import { defineErrors, registryOf } from '@culex/errors'

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
export class BenchError extends defineErrors('BenchError', registryOf(Object.values(BenchErrorCode))) {}

/** True when `err` is a BenchError (by its brand and code, so it works across copies). */
export function isBenchError (err: unknown): err is BenchError {
  return err instanceof BenchError
}
