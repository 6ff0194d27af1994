/**
 * The arithmetic of scenarios and comparisons, kept apart so tests can check it directly.
 */

/** Messages per second for `count` messages over `ms` milliseconds (0 when ms ≤ 0). */
export function perSecond (count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0
}

/**
 * Deliveries a run should produce: every publish reaches every matching subscriber.
 * Fan-in: P publishers → 1 subscriber on a wildcard: published × 1.
 * Fan-out: 1 publisher → S subscribers: published × S.
 */
export function expectedDeliveries (published: number, subscribers: number): number {
  return published * subscribers
}

/** Share of expected deliveries that did not arrive, in percent (never below 0). */
export function lossPercent (expected: number, delivered: number): number {
  if (expected <= 0) return 0
  return Math.max(0, ((expected - delivered) / expected) * 100)
}

/**
 * How many messages a fixed-rate sender must send now: the schedule says
 * floor(rate × elapsed) messages should have left by `elapsedMs`; `sent` already have.
 */
export function dueMessages (ratePerSecond: number, elapsedMs: number, sent: number): number {
  const target = Math.floor((ratePerSecond * elapsedMs) / 1000)
  return target > sent ? target - sent : 0
}

/** Intended send time (ms since start) of message `i` at a fixed rate: avoids coordinated omission. */
export function intendedSendTime (ratePerSecond: number, i: number): number {
  return ((i + 1) * 1000) / ratePerSecond
}

/** Broker memory per connection in KiB from RSS before/after (KiB) and the connection count. */
export function memoryPerConnection (rssBeforeKiB: number, rssAfterKiB: number, connections: number): number {
  if (connections <= 0) return 0
  return (rssAfterKiB - rssBeforeKiB) / connections
}

/** Median of a list (mean of the two middle values for an even count); NaN when empty. */
export function median (values: readonly number[]): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** Smallest and largest value; [NaN, NaN] when empty. */
export function minMax (values: readonly number[]): [number, number] {
  if (values.length === 0) return [NaN, NaN]
  let lo = Infinity
  let hi = -Infinity
  for (const v of values) {
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  return [lo, hi]
}

/**
 * How much better `value` is than `baseline`, as a factor > 1 when better: value / baseline
 * for higher-is-better metrics, baseline / value for lower-is-better ones. NaN when undefined.
 */
export function ratio (value: number, baseline: number, higherIsBetter: boolean): number {
  if (!Number.isFinite(value) || !Number.isFinite(baseline)) return NaN
  if (higherIsBetter) return baseline > 0 ? value / baseline : NaN
  return value > 0 ? baseline / value : NaN
}

/** CPU use in percent of one core from a process.cpuUsage() delta (µs) over `ms`. */
export function cpuPercent (usage: { user: number, system: number }, ms: number): number {
  return ms > 0 ? ((usage.user + usage.system) / 1000 / ms) * 100 : 0
}

/** Rotates a list by `round` positions: alternates who goes first across rounds. */
export function rotate<X> (list: readonly X[], round: number): X[] {
  if (list.length === 0) return []
  const k = round % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}
