/**
 * LatencyHistogram: constant-memory recording of non-negative integer values (microseconds)
 * with percentile queries.
 *
 * Values below 2048 are kept exactly. Above, each power of two is split into 1024 equal
 * buckets, so a reported percentile is never above the true nearest-rank value and is below
 * it by less than 1/1024 (0.1 %) of it. Memory is fixed (about 110 KB) however long the run,
 * and recording is one index computation and one increment: no per-sample allocation.
 */

const EXACT = 2048
const SUB = 1024
const OCTAVES = 42 // covers values up to 2^53

/** Bucket index of a non-negative integer value. */
export function bucketIndex (v: number): number {
  if (v < EXACT) return v
  const e = Math.floor(Math.log2(v))
  // Math.log2 can round up just below a power of two: correct it
  const exp = 2 ** e > v ? e - 1 : 2 ** (e + 1) <= v ? e + 1 : e
  const shift = exp - 10
  const sub = Math.floor(v / 2 ** shift) - SUB
  return EXACT + (exp - 11) * SUB + sub
}

/** Lowest value that falls into bucket `index`. */
export function bucketLow (index: number): number {
  if (index < EXACT) return index
  const k = index - EXACT
  const exp = Math.floor(k / SUB) + 11
  const sub = k % SUB
  return (SUB + sub) * 2 ** (exp - 10)
}

/** Summary of recorded values, in the recorded unit. */
export interface HistogramSummary {
  count: number
  min: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(EXACT + OCTAVES * SUB)
  #count = 0
  #min = Infinity
  #max = 0
  #sum = 0

  /** Records one value; negative values count as 0, fractions are rounded. */
  record (value: number): void {
    const v = value <= 0 ? 0 : Math.round(value)
    this.#counts[bucketIndex(v)]++
    this.#count++
    this.#sum += v
    if (v < this.#min) this.#min = v
    if (v > this.#max) this.#max = v
  }

  get count (): number { return this.#count }
  get min (): number { return this.#count === 0 ? 0 : this.#min }
  get max (): number { return this.#max }

  /**
   * Nearest-rank percentile: the smallest recorded value v such that at least p % of the
   * values are ≤ v (rounded down to its bucket, see the module header). 0 when empty.
   * @param p percentile in [0, 100]
   */
  percentile (p: number): number {
    if (this.#count === 0) return 0
    // the epsilon keeps 99.9 % of 1000 at rank 999 despite binary floating point
    const rank = Math.max(1, Math.ceil((p * this.#count) / 100 - 1e-9))
    if (rank >= this.#count) return this.#max
    let seen = 0
    const counts = this.#counts
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i] as number
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, bucketLow(i)))
    }
    return this.#max
  }

  /** Count, min, mean, p50, p90, p99, p99.9 and max. */
  summary (): HistogramSummary {
    return {
      count: this.#count,
      min: this.min,
      mean: this.#count === 0 ? 0 : this.#sum / this.#count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.#max
    }
  }
}
