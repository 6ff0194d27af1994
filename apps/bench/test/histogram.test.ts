import t from 'tap'
import fc from 'fast-check'
import { LatencyHistogram, bucketIndex, bucketLow } from '../src/index.ts'

// reference: nearest-rank percentile on a sorted copy
function reference (values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p * s.length) / 100 - 1e-9))
  return s[Math.min(rank, s.length) - 1] as number
}

const percentiles = [0, 1, 50, 90, 99, 99.9, 100]

t.test('percentiles agree with a sort-based reference within 1/1024 (never above)', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 2 ** 40 })), { minLength: 1, maxLength: 400 }),
    fc.constantFrom(...percentiles),
    (values, p) => {
      const h = new LatencyHistogram()
      for (const v of values) h.record(v)
      const got = h.percentile(p)
      const ref = reference(values, p)
      return got <= ref && ref - got <= ref / 1024
    }
  ), { numRuns: 500 })
  t.pass('property held for 500 runs')
})

t.test('values below 2048 are exact', async (t) => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 2047 }), { minLength: 1, maxLength: 200 }), fc.double({ min: 0, max: 100, noNaN: true }), (values, p) => {
    const h = new LatencyHistogram()
    for (const v of values) h.record(v)
    return h.percentile(p) === reference(values, p)
  }), { numRuns: 300 })
  t.pass('exact below 2048')
})

t.test('bucket bounds: low(index(v)) <= v < low(index(v) + 1)', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 52 }), (v) => {
    const i = bucketIndex(v)
    return bucketLow(i) <= v && v < bucketLow(i + 1)
  }), { numRuns: 2000 })
  for (const e of [11, 12, 20, 31, 40, 52]) {
    t.equal(bucketLow(bucketIndex(2 ** e)), 2 ** e, `2^${e} starts its bucket`)
    t.ok(bucketLow(bucketIndex(2 ** e - 1)) <= 2 ** e - 1, `2^${e}-1 stays below`)
  }
})

t.test('summary, empty histogram, rounding and negatives', async (t) => {
  const empty = new LatencyHistogram()
  t.same(empty.summary(), { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 })
  const h = new LatencyHistogram()
  for (let i = 1; i <= 1000; i++) h.record(i)
  const s = h.summary()
  t.equal(s.count, 1000)
  t.equal(s.min, 1)
  t.equal(s.max, 1000)
  t.equal(s.p50, 500)
  t.equal(s.p90, 900)
  t.equal(s.p99, 990)
  t.equal(s.p999, 999)
  t.equal(h.percentile(100), 1000)
  t.equal(s.mean, 500.5)
  const r = new LatencyHistogram()
  r.record(-5)
  r.record(2.4)
  r.record(2.6)
  t.equal(r.min, 0, 'negative recorded as 0')
  t.equal(r.percentile(50), 2, '2.4 rounds to 2')
  t.equal(r.max, 3, '2.6 rounds to 3')
})
