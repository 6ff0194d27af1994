// bench:operator's summary: medians, ranges, spread, ratios of the medians and per round,
// the per-CPU figures, failed runs, and the table.
import t from 'tap'
import { costTable, summarizeCost, type Sample } from '../src/compare/operator-summary.ts'

const run = (round: number, variant: Sample['variant'], rate: number, cpu: number, requests = 0): Sample =>
  ({ round, variant, rate, brokerCpu: cpu, ratePerCpu: rate / cpu, ...(requests > 0 ? { load: { requests, failures: 0, bytes: 0, meanMs: 1 } } : {}) })

t.test('ratios to plain: of the medians, per round, and per broker CPU second', async (t) => {
  const samples: Sample[] = [
    run(0, 'plain', 100, 1), run(0, 'metrics-1s', 90, 1, 10),
    run(1, 'plain', 200, 0.5), run(1, 'metrics-1s', 190, 0.5, 12),
    run(2, 'plain', 300, 1), run(2, 'metrics-1s', 270, 1, 11),
    { round: 3, variant: 'metrics-1s', error: 'broker did not start' }
  ]
  const [plain, m1] = summarizeCost(['plain', 'metrics-1s'], samples, 4)
  t.equal(plain!.median, 200)
  t.equal(plain!.ratio, 1)
  t.same([plain!.min, plain!.max], [100, 300])
  t.equal(plain!.spreadPercent, 100)
  t.equal(m1!.runs, 3)
  t.equal(m1!.failed, 1)
  t.equal(m1!.median, 190)
  t.equal(m1!.ratio, 190 / 200)
  t.same(m1!.paired, { median: 0.9, min: 0.9, max: 0.95 }, 'per round: 0.9, 0.95, 0.9')
  // per CPU: plain 100, 400, 300 → median 300; metrics 90, 380, 270 → 270
  t.equal(m1!.perCpu.median, 270)
  t.equal(m1!.perCpu.ratio, 0.9)
  t.equal(m1!.perCpu.paired, 0.9)
  t.equal(m1!.brokerCpu, 1)
  t.equal(m1!.requestsPerRun, 11)
  t.equal(m1!.requestFailures, 0)
  const table = costTable([plain!, m1!])
  t.match(table, /^\| plain \| 200 \(100–300\) \| 100\.0 % \| 1\.000 \| 1\.000 \(1\.000–1\.000\) \| 100 % \| 300 \| 1\.000; 1\.000 \| – \|$/m)
  t.match(table, /^\| metrics-1s \(1 failed\) \| 190 \(90–270\) \| .* \| 0\.950 \| 0\.900 \(0\.900–0\.950\) \| 100 % \| 270 \| 0\.900; 0\.900 \| 11\.0 \|$/m)
})

t.test('a variant with no successful run shows dashes, not NaN', async (t) => {
  const rows = summarizeCost(['plain', 'console'], [run(0, 'plain', 100, 1), { round: 0, variant: 'console', error: 'x' }], 1)
  t.equal(rows[1]!.runs, 0)
  const table = costTable(rows)
  t.notMatch(table, /NaN/)
  t.match(table, /^\| console \(1 failed\) \| – \(–––\) \| – % \|/m)
})
