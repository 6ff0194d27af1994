import t from 'tap'
import { markdownTable, metricValue, overloadSuite, persistenceSuite, suite, summarize, type Sample } from '../src/compare/suite.ts'
import type { BenchResult } from '../src/index.ts'

function result (over: Partial<BenchResult>): BenchResult {
  return { type: 'result', scenario: 'fan-in', label: '', target: 'x', params: {}, durationMs: 1000, generatorCpuPercent: 10, warnings: [], ...over }
}

t.test('the suite covers the broker targets', async (t) => {
  const ids = suite(false).map(e => e.id)
  t.same(ids, ['fan-in-qos0', 'fan-out-qos0', 'fan-in-qos1', 'fan-in-qos2', 'latency-qos1', 'storm', 'idle', 'backlog', 'retained'])
  const fanOut = suite(false).find(e => e.id === 'fan-out-qos0')
  t.match(fanOut?.args.join(' '), /--subscribers 50/)
  const storm = suite(false).find(e => e.id === 'storm')
  t.equal(storm?.pid, true, 'storm reads the broker pid')
  t.ok(storm?.metrics.some(m => m.path === 'memory.perConnectionKiB' && !m.higherIsBetter))
  t.match(suite(false).find(e => e.id === 'idle')?.args.join(' '), /--no-subscribe/, 'idle connections do not subscribe')
  t.match(suite(true)[0]?.args.join(' '), /--duration 1/, 'quick shortens windows')
})

t.test('the persistence suite covers the store targets', async (t) => {
  const entries = persistenceSuite(false)
  t.same(entries.map(e => e.id), ['persistent-qos1', 'backlog', 'backlog-4', 'retained'])
  t.match(entries[0]?.args.join(' '), /--qos 1 .*--persistent/, 'QoS 1 to persistent sessions')
  t.same(entries[1]?.metrics.map(m => m.path), ['publishRate', 'deliveredRate'], 'the offline queue is measured storing and draining')
  t.match(entries[2]?.args.join(' '), /--publishers 4/, 'and from four publishers')
  t.match(entries[3]?.args.join(' '), /--messages 100000/, '100k retained topics')
  t.match(persistenceSuite(true)[3]?.args.join(' '), /--messages 10000/, 'quick shrinks the counts')
})

t.test('the overload suite: QoS 1 and 2, clean and persistent, counting every message', async (t) => {
  const entries = overloadSuite(false)
  t.same(entries.map(e => e.id), ['overload-qos1', 'overload-qos1-persistent', 'overload-qos2', 'overload-qos2-persistent'])
  t.match(entries[1]?.args.join(' '), /overload --qos 1 --messages 100000 .*--persistent/)
  t.same(entries[0]?.metrics.map(m => m.path), ['deliveredRate', 'overload.acknowledged', 'overload.delivered', 'overload.lostAfterAck', 'overload.duplicates'])
  t.match(overloadSuite(true)[0]?.args.join(' '), /--messages 20000/, 'quick shrinks the count')
})

t.test('metric paths', async (t) => {
  const r = result({ deliveredRate: 5, latencyMs: { count: 1, min: 1, mean: 1, p50: 2, p90: 3, p99: 4, p999: 5, max: 6 } })
  t.equal(metricValue(r, 'deliveredRate'), 5)
  t.equal(metricValue(r, 'latencyMs.p99'), 4)
  t.ok(Number.isNaN(metricValue(r, 'memory.perConnectionKiB')))
  t.ok(Number.isNaN(metricValue(r, 'label')))
})

t.test('medians, ranges, failures and ratios to the baseline', async (t) => {
  const entries = suite(false).filter(e => e.id === 'fan-in-qos0' || e.id === 'storm')
  const samples: Sample[] = [
    { round: 0, entry: 'fan-in-qos0', broker: 'aedes', result: result({ deliveredRate: 100, lossPercent: 0 }) },
    { round: 1, entry: 'fan-in-qos0', broker: 'aedes', result: result({ deliveredRate: 120, lossPercent: 0 }) },
    { round: 2, entry: 'fan-in-qos0', broker: 'aedes', result: result({ deliveredRate: 80, lossPercent: 0 }) },
    { round: 0, entry: 'fan-in-qos0', broker: 'culex', result: result({ deliveredRate: 300, lossPercent: 1 }) },
    { round: 1, entry: 'fan-in-qos0', broker: 'culex', error: 'boom' },
    { round: 0, entry: 'storm', broker: 'aedes', result: result({ connect: { clients: 1, ratePerSecond: 50, latencyMs: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 } }, memory: { rssBeforeKiB: 0, rssAfterKiB: 18000, perConnectionKiB: 18 } }) },
    { round: 0, entry: 'storm', broker: 'culex', result: result({ connect: { clients: 1, ratePerSecond: 100, latencyMs: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 } }, memory: { rssBeforeKiB: 0, rssAfterKiB: 3000, perConnectionKiB: 3 } }) }
  ]
  const rows = summarize(entries, ['culex', 'aedes'], samples, 'aedes')
  t.equal(rows.length, 3, 'one row per metric')
  const fanIn = rows[0]
  const culex = fanIn?.cells.find(c => c.broker === 'culex')
  const aedes = fanIn?.cells.find(c => c.broker === 'aedes')
  t.equal(aedes?.median, 100)
  t.equal(aedes?.min, 80)
  t.equal(aedes?.max, 120)
  t.ok(Number.isNaN(aedes?.ratio ?? 0), 'no ratio for the baseline itself')
  t.equal(culex?.median, 300)
  t.equal(culex?.failed, 1)
  t.equal(culex?.ratio, 3)
  t.equal(rows[1]?.cells.find(c => c.broker === 'culex')?.ratio, 2, 'connects/s: higher is better')
  t.equal(rows[2]?.cells.find(c => c.broker === 'culex')?.ratio, 6, 'memory: lower is better, 18 / 3')
  const md = markdownTable(rows, ['culex', 'aedes'], 'aedes')
  t.match(md, /\| scenario \| metric \| culex median \(min–max\) \| aedes median \(min–max\) \| culex vs aedes \|/)
  t.match(md, /\| 300, 1 failed, loss 1\.0 % \| 100 \(80–120\) \| 3\.00× \|/)
  t.match(md, /RSS KiB per connection \+ 1 subscription \| 3\.0 \| 18\.0 \| 6\.00× \|/)
  const none = summarize(entries.slice(0, 1), ['culex'], [{ round: 0, entry: 'fan-in-qos0', broker: 'culex', error: 'x' }], 'aedes')
  t.match(markdownTable(none, ['culex'], 'aedes'), /failed 1\/1/)
})
