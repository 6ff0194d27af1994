/** Reconnect delays: exponential backoff with jitter. */

/** Reconnect options. All durations in milliseconds. */
export interface ReconnectOptions {
  /** First delay. Default 100. */
  initialDelay?: number
  /** Largest delay. Default 30000. */
  maxDelay?: number
  /** Growth factor per failed attempt. Default 2. */
  factor?: number
  /** Fraction of the delay that is randomized away (0 = none, 1 = full jitter). Default 0.5. */
  jitter?: number
}

/**
 * Delay before reconnect attempt `attempt` (0-based): `min(maxDelay, initial * factor^attempt)`
 * reduced by a random fraction up to `jitter`, so that many clients do not reconnect in step.
 */
export function backoffDelay (attempt: number, opts: Required<ReconnectOptions>, random: () => number = Math.random): number {
  const base = Math.min(opts.maxDelay, opts.initialDelay * Math.pow(opts.factor, attempt))
  return Math.round(base * (1 - opts.jitter * random()))
}
