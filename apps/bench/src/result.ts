/**
 * The result record of one scenario run: printed as a table, or as one JSON line.
 */
import type { HistogramSummary } from './histogram.ts'

/** One scenario run. Rates are per second; latency in milliseconds; memory in KiB. */
export interface BenchResult {
  type: 'result'
  scenario: string
  label: string
  target: string
  params: Record<string, number | string | boolean>
  /** Measured window in ms. */
  durationMs: number
  /** Messages published (QoS 0: written; QoS 1/2: acknowledged) in the window. */
  published?: number
  /** Messages delivered to subscribers in the window. */
  delivered?: number
  publishRate?: number
  deliveredRate?: number
  /** Expected deliveries that did not arrive, %. */
  lossPercent?: number
  latencyMs?: HistogramSummary
  connect?: { clients: number, ratePerSecond: number, latencyMs: HistogramSummary }
  memory?: { rssBeforeKiB: number, rssAfterKiB: number, perConnectionKiB: number }
  /** overload: messages acknowledged to publishers, delivered (distinct), acknowledged but never delivered, deliveries beyond the first. */
  overload?: { acknowledged: number, delivered: number, lostAfterAck: number, duplicates: number }
  /**
   * stalled: healthy subscribers' delivered msg/s before, while and after a `#` subscriber
   * stopped reading (all, and QoS 1 alone), the stalled rate as % of the mean of before and after, broker RSS
   * (KiB, NaN without --pid) at the end of the baseline and its peak while stalled, whether
   * the broker had disconnected the stalled client by the end of that window, and QoS 1
   * messages acknowledged to their publisher that a healthy subscriber never received.
   */
  stalled?: {
    baselineRate: number
    stalledRate: number
    afterRate: number
    ratioPercent: number
    qos1BaselineRate: number
    qos1StalledRate: number
    qos1RatioPercent: number
    rssBeforeKiB: number
    rssPeakKiB: number
    rssGrowthKiB: number
    disconnected: boolean
    acknowledged: number
    lostAfterAck: number
  }
  /** The generator's own CPU over the window, % of one core. */
  generatorCpuPercent: number
  warnings: string[]
}
