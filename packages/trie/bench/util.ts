// Timing helpers: fixed-CPU-time samples after one warm-up sample; mean ops/s and the
// relative standard deviation across samples. Every result goes into `sink` so V8 cannot
// drop the work.
export let sink = 0
export function consume (n: number): void {
  sink = (sink + n) | 0
}

export interface Rate { opsPerSec: number, rsd: number }

// Process CPU time (user + system, all threads, so GC helpers count) in nanoseconds. The
// bench machine is shared: CPU time is much less disturbed by other processes than wall
// time, which also counts the time this process waits for a core.
function cpuNow (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

/**
 * `batch()` does some operations and returns how many; it is called until `sampleMs` of CPU
 * time has passed, `samples` times (plus one warm-up).
 */
export function rate (batch: () => number, samples = 5, sampleMs = 250): Rate {
  return rates([batch], samples, sampleMs)[0] as Rate
}

/**
 * Like {@link rate} for several contestants, interleaved: each sample round runs every
 * contestant once, so a change in machine load hits all of them alike.
 */
export function rates (batches: Array<() => number>, samples = 5, sampleMs = 250): Rate[] {
  const all: number[][] = batches.map(() => [])
  const limit = sampleMs * 1e6
  for (let s = -1; s < samples; s++) {
    for (let b = 0; b < batches.length; b++) {
      const batch = batches[b] as () => number
      let ops = 0
      const start = cpuNow()
      let elapsed = 0
      while (elapsed < limit) {
        ops += batch()
        elapsed = cpuNow() - start
      }
      if (s >= 0) (all[b] as number[]).push(ops / (elapsed / 1e9))
    }
  }
  return all.map(summarize)
}

export function summarize (rates: number[]): Rate {
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length
  const variance = rates.reduce((a, b) => a + (b - mean) ** 2, 0) / rates.length
  return { opsPerSec: mean, rsd: mean === 0 ? 0 : Math.sqrt(variance) / mean * 100 }
}

/** Runs `fn` once and returns the CPU seconds it took. */
export function time (fn: () => void): number {
  const start = cpuNow()
  fn()
  return (cpuNow() - start) / 1e9
}

export function fmtOps (r: Rate): string {
  const v = r.opsPerSec
  const s = v >= 1e6 ? (v / 1e6).toFixed(2) + 'M' : v >= 1e3 ? (v / 1e3).toFixed(1) + 'k' : v.toFixed(1)
  return `${s} ±${r.rsd.toFixed(1)}%`
}

export function fmtSize (n: number): string {
  return n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`
}

export function assert (cond: boolean, message: string): void {
  if (!cond) throw new Error('bench: results differ: ' + message)
}
