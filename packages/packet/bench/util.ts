/**
 * Tiny benchmark harness: two contestants, alternating samples, same input, a sink.
 */
import { isDeepStrictEqual } from 'node:util'

export interface Contestant {
  name: string
  /** Runs the work once over the whole input; returns the number of packets processed. */
  run: () => number
}

export interface Result {
  name: string
  /** Median of the samples. */
  packetsPerSec: number
  mbPerSec: number
  /** Relative standard deviation of the samples, %. */
  rsd: number
}

const gc = (globalThis as { gc?: () => void }).gc

/** Everything results flow into, so V8 cannot drop the work. */
export const sink = { packets: 0, bytes: 0, last: null as unknown }

/**
 * One sample: run until `ms` of this process's CPU time (user + system) have passed.
 * CPU time, not wall time, because the benchmark machine is shared: with other processes
 * competing, wall-clock rates varied by ±30-100% between samples, CPU-time rates by a few %.
 * GC threads count too, so allocation-heavy code pays for its collections.
 */
function sample (c: Contestant, ms: number): number {
  let packets = 0
  const start = process.cpuUsage()
  const limit = ms * 1000
  let elapsed = 0
  do {
    packets += c.run()
    const u = process.cpuUsage(start)
    elapsed = u.user + u.system
  } while (elapsed < limit)
  return packets / (elapsed / 1e6)
}

/**
 * Measure both contestants: warm-up, then `samples` alternating samples of `ms` each.
 * `bytesPerPacket` converts packets/s into MB/s (wire bytes).
 */
export function measure (contestants: Contestant[], bytesPerPacket: number, opts = { warmupMs: 200, samples: 7, ms: 100 }): Result[] {
  // One contestant after the other, each from a collected heap. Interleaving samples made
  // the concurrent GC of one contestant's garbage run (and be billed) during the other's
  // sample: on the 16 B PUBLISH parse, ours alone gave 5.1 M pkt/s ±2%, interleaved with
  // mqtt-packet 2.1 M ±26%.
  const rates: number[][] = contestants.map(() => [])
  contestants.forEach((c, j) => {
    gc?.()
    sample(c, opts.warmupMs)
    for (let i = 0; i < opts.samples; i++) rates[j]!.push(sample(c, opts.ms))
  })
  return contestants.map((c, j) => {
    const r = rates[j]!
    const mean = r.reduce((a, b) => a + b, 0) / r.length
    const sd = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / r.length)
    const median = [...r].sort((x, y) => x - y)[r.length >> 1] as number
    return { name: c.name, packetsPerSec: median, mbPerSec: median * bytesPerPacket / 1e6, rsd: sd / mean * 100 }
  })
}

/** Buffers become hex, keys sorted, mqtt-packet's bookkeeping fields go: the same normalizer idea as the tests. */
export function normalize (p: unknown): unknown {
  const out = canonical(p) as Record<string, unknown>
  delete out.length
  if (out.cmd !== 'publish') {
    for (const k of ['retain', 'qos', 'dup', 'topic', 'payload']) delete out[k]
  }
  return out
}

function canonical (v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`
  if (Array.isArray(v)) return v.map(canonical)
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) if ((v as Record<string, unknown>)[k] !== undefined) o[k] = canonical((v as Record<string, unknown>)[k])
    return o
  }
  return v
}

/** Throws unless both lists (of normalized packets) are equal. */
export function assertSame (what: string, a: unknown[], b: unknown[]): void {
  if (a.length !== b.length || !a.every((x, i) => isDeepStrictEqual(x, b[i]))) {
    throw new Error(`${what}: contestants disagree (${a.length} vs ${b.length} packets)`)
  }
}

/** Cut `buf` into chunks of `size` bytes (the last one shorter). */
export function chunk (buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size))
  return out
}
