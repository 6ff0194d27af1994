/**
 * The comparison suite: which culex-bench runs make up one round, which numbers of each are
 * compared, and the summary math (median, min–max, ratio to a baseline broker).
 */
import { median, minMax, ratio } from '../math.ts'
import type { BenchResult } from '../result.ts'

/** One number taken from a result. */
export interface Metric {
  /** Dotted path into BenchResult, e.g. 'deliveredRate' or 'memory.perConnectionKiB'. */
  path: string
  label: string
  unit: string
  higherIsBetter: boolean
  digits: number
}

/** One culex-bench run per broker per round. */
export interface SuiteEntry {
  id: string
  title: string
  args: string[]
  metrics: Metric[]
  /** Needs the broker's pid (memory). */
  pid?: boolean
  /** Extra command-line arguments for one kind of broker in this entry (e.g. culex's stall timeout). */
  brokerArgs?: { culex?: string[] }
}

const delivered: Metric = { path: 'deliveredRate', label: 'delivered msg/s', unit: 'msg/s', higherIsBetter: true, digits: 0 }

/** The suite; `quick` shortens windows and counts for a sanity run. */
export function suite (quick: boolean): SuiteEntry[] {
  const time = quick ? ['--warmup', '0.5', '--duration', '1'] : ['--warmup', '1', '--duration', '4']
  return [
    { id: 'fan-in-qos0', title: 'QoS 0 fan-in 4→1 (wildcard sub)', args: ['fan-in', '--publishers', '4', '--qos', '0', ...time], metrics: [delivered] },
    { id: 'fan-out-qos0', title: 'QoS 0 fan-out 1→50', args: ['fan-out', '--subscribers', '50', '--qos', '0', ...time], metrics: [delivered] },
    { id: 'fan-in-qos1', title: 'QoS 1 fan-in 4→1, window 32/publisher', args: ['fan-in', '--publishers', '4', '--qos', '1', '--inflight', '32', ...time], metrics: [delivered] },
    { id: 'fan-in-qos2', title: 'QoS 2 fan-in 4→1, window 32/publisher', args: ['fan-in', '--publishers', '4', '--qos', '2', '--inflight', '32', ...time], metrics: [delivered] },
    {
      id: 'latency-qos1',
      title: 'latency, QoS 1 1→1 at 5,000 msg/s',
      args: ['latency', '--rate', '5000', '--qos', '1', ...time],
      metrics: [
        { path: 'latencyMs.p50', label: 'p50 ms', unit: 'ms', higherIsBetter: false, digits: 3 },
        { path: 'latencyMs.p99', label: 'p99 ms', unit: 'ms', higherIsBetter: false, digits: 3 },
        { path: 'latencyMs.max', label: 'max ms', unit: 'ms', higherIsBetter: false, digits: 2 }
      ]
    },
    {
      id: 'storm',
      title: `connection storm, ${quick ? 300 : 1000} clients (connect + subscribe)`,
      args: ['storm', '--clients', quick ? '300' : '1000', '--concurrency', '100', '--settle', quick ? '1' : '2'],
      pid: true,
      metrics: [
        { path: 'connect.ratePerSecond', label: 'connects/s', unit: 'conn/s', higherIsBetter: true, digits: 0 },
        { path: 'memory.perConnectionKiB', label: 'RSS KiB per connection + 1 subscription', unit: 'KiB', higherIsBetter: false, digits: 1 }
      ]
    },
    {
      id: 'idle',
      title: `idle connections, ${quick ? 300 : 1000} clients (connect only)`,
      args: ['storm', '--clients', quick ? '300' : '1000', '--concurrency', '100', '--no-subscribe', '--settle', quick ? '1' : '2'],
      pid: true,
      metrics: [
        { path: 'memory.perConnectionKiB', label: 'RSS KiB per idle connection', unit: 'KiB', higherIsBetter: false, digits: 1 }
      ]
    },
    { id: 'backlog', title: `backlog drain, ${quick ? '2,000' : '10,000'} QoS 1 queued offline`, args: ['backlog', '--messages', quick ? '2000' : '10000'], metrics: [{ ...delivered, label: 'drained msg/s' }] },
    { id: 'retained', title: `retained burst, ${quick ? '1,000' : '5,000'} topics on a # subscribe`, args: ['retained', '--messages', quick ? '1000' : '5000'], metrics: [{ ...delivered, label: 'retained msg/s' }] }
  ]
}

/**
 * The persistence suite (`--persistence level|redis`): the store issue's targets.
 * Persistent-session QoS 1 through the store, the offline queue (stored before each PUBACK)
 * and its drain, and retained delivery on a wildcard over many retained topics.
 */
export function persistenceSuite (quick: boolean): SuiteEntry[] {
  const time = quick ? ['--warmup', '0.5', '--duration', '1'] : ['--warmup', '1', '--duration', '4']
  const backlog = quick ? 2000 : 50000
  const retained = quick ? 10000 : 100000
  return [
    { id: 'persistent-qos1', title: 'persistent QoS 1 fan-in 4→1 (clean session off), window 32/publisher', args: ['fan-in', '--publishers', '4', '--qos', '1', '--inflight', '32', '--persistent', ...time], metrics: [delivered] },
    {
      id: 'backlog',
      title: `offline queue, ${backlog.toLocaleString('en-US')} QoS 1 to an offline persistent session, window 32`,
      args: ['backlog', '--messages', String(backlog), '--timeout', '60'],
      metrics: [
        { path: 'publishRate', label: 'stored + acked msg/s', unit: 'msg/s', higherIsBetter: true, digits: 0 },
        { ...delivered, label: 'drained msg/s' }
      ]
    },
    {
      id: 'backlog-4',
      title: `offline queue, ${backlog.toLocaleString('en-US')} QoS 1 from 4 publishers to an offline persistent session, window 32 each`,
      args: ['backlog', '--messages', String(backlog), '--publishers', '4', '--timeout', '60'],
      metrics: [
        { path: 'publishRate', label: 'stored + acked msg/s', unit: 'msg/s', higherIsBetter: true, digits: 0 }
      ]
    },
    { id: 'retained', title: `retained burst, ${retained.toLocaleString('en-US')} topics on a # subscribe`, args: ['retained', '--messages', String(retained), '--timeout', '60'], metrics: [{ ...delivered, label: 'retained msg/s' }] }
  ]
}

/**
 * The overload suite (`--suite overload`): 4 publishers × 100 unacknowledged QoS 1 or 2 to
 * one wildcard subscriber whose queue fills, clean and persistent. The brokers run with their
 * default queue bound (1000), the one that overflows.
 */
export function overloadSuite (quick: boolean): SuiteEntry[] {
  const messages = quick ? 20000 : 100000
  const n = messages.toLocaleString('en-US')
  const metrics: Metric[] = [
    { ...delivered, label: 'delivered msg/s' },
    { path: 'overload.acknowledged', label: 'acknowledged', unit: 'msg', higherIsBetter: true, digits: 0 },
    { path: 'overload.delivered', label: 'delivered', unit: 'msg', higherIsBetter: true, digits: 0 },
    { path: 'overload.lostAfterAck', label: 'lost after ack', unit: 'msg', higherIsBetter: false, digits: 0 },
    { path: 'overload.duplicates', label: 'duplicates', unit: 'msg', higherIsBetter: false, digits: 0 }
  ]
  const entries: SuiteEntry[] = []
  for (const qos of ['1', '2']) {
    for (const persistent of [false, true]) {
      entries.push({
        id: `overload-qos${qos}${persistent ? '-persistent' : ''}`,
        title: `overload, ${n} QoS ${qos}, 4 publishers × 100 unacked → 1 wildcard sub (${persistent ? 'persistent' : 'clean'})`,
        args: ['overload', '--qos', qos, '--messages', String(messages), '--timeout', '30', ...(persistent ? ['--persistent'] : [])],
        metrics
      })
    }
  }
  return entries
}

/**
 * The stalled-subscriber suite (`--suite stalled`): 4 publishers (2 QoS 0 flat out, 2 QoS 1
 * window 32) → 2 healthy wildcard subscribers, then a `#` subscriber that never reads. Each
 * broker with its defaults (culex: stall timeout 30 s, longer than the window), and culex
 * with `--stall-timeout 1000` (a stalled clean session ends after 1 s without progress).
 */
export function stalledSuite (quick: boolean): SuiteEntry[] {
  const time = quick ? ['--warmup', '0.5', '--duration', '2'] : ['--warmup', '1', '--duration', '4']
  const metrics: Metric[] = [
    { ...delivered, label: 'healthy msg/s while stalled' },
    { path: 'stalled.baselineRate', label: 'healthy msg/s without it', unit: 'msg/s', higherIsBetter: true, digits: 0 },
    { path: 'stalled.ratioPercent', label: 'healthy, % of baseline', unit: '%', higherIsBetter: true, digits: 1 },
    { path: 'stalled.qos1RatioPercent', label: 'healthy QoS 1, % of baseline', unit: '%', higherIsBetter: true, digits: 1 },
    { path: 'stalled.rssGrowthKiB', label: 'broker RSS growth KiB', unit: 'KiB', higherIsBetter: false, digits: 0 },
    { path: 'stalled.lostAfterAck', label: 'QoS 1 lost after ack (healthy)', unit: 'msg', higherIsBetter: false, digits: 0 }
  ]
  return [
    { id: 'stalled', title: 'stalled # subscriber among 2 healthy ones, 2 QoS 0 + 2 QoS 1 publishers (defaults)', args: ['stalled', ...time], pid: true, metrics },
    { id: 'stalled-1s', title: 'the same, culex --stall-timeout 1000', args: ['stalled', ...time], pid: true, metrics, brokerArgs: { culex: ['--stall-timeout', '1000'] } }
  ]
}

/** Reads a dotted path from a result; NaN when missing. */
export function metricValue (r: BenchResult, p: string): number {
  let v: unknown = r
  for (const k of p.split('.')) {
    if (v === null || typeof v !== 'object') return NaN
    v = (v as Record<string, unknown>)[k]
  }
  return typeof v === 'number' ? v : NaN
}

/** One sample: a run of one suite entry against one broker in one round. */
export interface Sample {
  round: number
  entry: string
  broker: string
  result?: BenchResult
  error?: string
}

/** Summary of one metric of one entry for one broker. */
export interface Cell {
  broker: string
  median: number
  min: number
  max: number
  ok: number
  failed: number
  /** Better-than-baseline factor (> 1 = better), NaN for the baseline itself or without data. */
  ratio: number
  /** Loss % median (throughput rows), for the reader's judgement. */
  loss: number
}

export interface SummaryRow {
  entry: string
  title: string
  metric: Metric
  cells: Cell[]
}

/** Medians, min–max and ratios to `baseline` for every entry × metric × broker. */
export function summarize (entries: SuiteEntry[], brokers: string[], samples: Sample[], baseline: string): SummaryRow[] {
  const rows: SummaryRow[] = []
  for (const e of entries) {
    for (const m of e.metrics) {
      const cells: Cell[] = brokers.map((b) => {
        const mine = samples.filter(s => s.entry === e.id && s.broker === b)
        const values = mine.flatMap(s => s.result === undefined ? [] : [metricValue(s.result, m.path)]).filter(Number.isFinite)
        const losses = mine.flatMap(s => s.result?.lossPercent === undefined ? [] : [s.result.lossPercent])
        const [min, max] = minMax(values)
        return { broker: b, median: median(values), min, max, ok: values.length, failed: mine.length - values.length, ratio: NaN, loss: median(losses) }
      })
      const base = cells.find(c => c.broker === baseline)
      for (const c of cells) {
        if (base !== undefined && c.broker !== baseline) c.ratio = ratio(c.median, base.median, m.higherIsBetter)
      }
      rows.push({ entry: e.id, title: e.title, metric: m, cells })
    }
  }
  return rows
}

function num (n: number, digits: number): string {
  if (!Number.isFinite(n)) return 'n/a'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A Markdown table of the summary (also readable as plain text). */
export function markdownTable (rows: SummaryRow[], brokers: string[], baseline: string): string {
  const others = brokers.filter(b => b !== baseline)
  const head = ['scenario', 'metric', ...brokers.map(b => `${b} median (min–max)`), ...others.map(b => `${b} vs ${baseline}`)]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_h, i) => i < 2 ? ' --- ' : ' ---: ').join('|')}|`]
  for (const r of rows) {
    const cells = r.cells.map((c) => {
      if (c.ok === 0) return c.failed > 0 ? `failed ${c.failed}/${c.failed}` : 'n/a'
      const range = c.ok > 1 ? ` (${num(c.min, r.metric.digits)}–${num(c.max, r.metric.digits)})` : ''
      const fails = c.failed > 0 ? `, ${c.failed} failed` : ''
      const loss = Number.isFinite(c.loss) && c.loss >= 0.5 ? `, loss ${num(c.loss, 1)} %` : ''
      return `${num(c.median, r.metric.digits)}${range}${fails}${loss}`
    })
    const ratios = others.map((b) => {
      const c = r.cells.find(x => x.broker === b)
      return c === undefined || !Number.isFinite(c.ratio) ? 'n/a' : `${num(c.ratio, 2)}×`
    })
    lines.push(`| ${[r.title, r.metric.label, ...cells, ...ratios].join(' | ')} |`)
  }
  return lines.join('\n') + '\n'
}
