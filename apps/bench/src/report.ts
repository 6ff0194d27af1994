/**
 * Human output: a two-column table of one result. Machine output is the result as JSON.
 */
import type { BenchResult } from './result.ts'

/** Formats a number with thousands separators and `digits` decimals. */
export function fmt (n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '-'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** The human table of one result. */
export function formatResult (r: BenchResult): string {
  const rows: Array<[string, string]> = []
  rows.push(['scenario', r.scenario + (r.label === '' ? '' : ` (${r.label})`)])
  rows.push(['target', r.target])
  rows.push(['params', Object.entries(r.params).map(([k, v]) => `${k}=${String(v)}`).join(' ')])
  rows.push(['measured', `${fmt(r.durationMs / 1000, 2)} s`])
  if (r.published !== undefined) rows.push(['published', `${fmt(r.published)}${r.publishRate === undefined ? '' : `  (${fmt(r.publishRate)} msg/s)`}`])
  if (r.delivered !== undefined) rows.push(['delivered', `${fmt(r.delivered)}  (${fmt(r.deliveredRate)} msg/s)`])
  if (r.lossPercent !== undefined) rows.push(['loss', `${fmt(r.lossPercent, 2)} %`])
  if (r.overload !== undefined) {
    rows.push(['acknowledged', fmt(r.overload.acknowledged)])
    rows.push(['lost after ack', fmt(r.overload.lostAfterAck)])
    rows.push(['duplicates', fmt(r.overload.duplicates)])
  }
  if (r.stalled !== undefined) {
    const x = r.stalled
    rows.push(['healthy msg/s', `baseline ${fmt(x.baselineRate)}  stalled ${fmt(x.stalledRate)} (${fmt(x.ratioPercent, 1)} %)  after ${fmt(x.afterRate)}`])
    rows.push(['healthy QoS 1', `baseline ${fmt(x.qos1BaselineRate)}  stalled ${fmt(x.qos1StalledRate)} (${fmt(x.qos1RatioPercent, 1)} %)`])
    rows.push(['broker RSS', `${fmt(x.rssBeforeKiB)} KiB -> peak ${fmt(x.rssPeakKiB)} KiB while stalled`])
    rows.push(['stalled client', x.disconnected ? 'disconnected by the broker within the window' : 'still connected at the end of the window'])
    rows.push(['QoS 1 lost after ack', `${fmt(x.lostAfterAck)} of ${fmt(x.acknowledged)} acknowledged`])
  }
  const lat = r.latencyMs ?? r.connect?.latencyMs
  if (r.connect !== undefined) rows.push(['connected', `${fmt(r.connect.clients)}  (${fmt(r.connect.ratePerSecond)} conn/s)`])
  if (lat !== undefined) {
    const name = r.connect === undefined ? 'latency ms' : 'connect ms'
    rows.push([name, `p50 ${fmt(lat.p50, 3)}  p90 ${fmt(lat.p90, 3)}  p99 ${fmt(lat.p99, 3)}  p99.9 ${fmt(lat.p999, 3)}  max ${fmt(lat.max, 3)}  (n=${fmt(lat.count)})`])
  }
  if (r.memory !== undefined) {
    rows.push(['broker RSS', `${fmt(r.memory.rssBeforeKiB)} KiB -> ${fmt(r.memory.rssAfterKiB)} KiB`])
    rows.push(['per connection', `${fmt(r.memory.perConnectionKiB, 2)} KiB`])
  }
  rows.push(['generator CPU', `${fmt(r.generatorCpuPercent, 0)} % of one core`])
  for (const w of r.warnings) rows.push(['warning', w])
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n'
}
