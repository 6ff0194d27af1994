/**
 * The summary math of `bench:operator` (operator-cost.ts): per variant, the median, range and
 * spread of delivered msg/s and of msg per broker CPU second, and the ratios to `plain`, both
 * of the medians and per round; and the Markdown table.
 */
import { median, minMax } from '../math.ts'

/** The variants, `plain` (no HTTP listener) being the baseline; `health-1s` (not run by default) separates HTTP from metrics work. */
export const VARIANTS = ['plain', 'http', 'metrics-1s', 'metrics-15s', 'console', 'health-1s'] as const
export type Variant = typeof VARIANTS[number]

export /** What the load of one run did, to check that it really happened. */
interface LoadReport { requests: number, failures: number, bytes: number, meanMs: number }

/** One run of one variant. */
export interface Sample {
  round: number
  variant: Variant
  rate?: number
  /**
   * Delivered messages per second of broker CPU: the rate divided by the broker's share of a
   * core over the generator's run. Less sensitive than `rate` to other processes taking the
   * broker's core on a shared machine (the broker's CPU time is its own work).
   */
  ratePerCpu?: number
  /** The broker's CPU share over the run (1 = one full core). */
  brokerCpu?: number
  lossPercent?: number
  generatorCpuPercent?: number
  load?: LoadReport
  error?: string
}

/** One variant's numbers. */
export interface CostRow {
  variant: Variant
  runs: number
  failed: number
  median: number
  min: number
  max: number
  /** (max − min) / median, %. */
  spreadPercent: number
  /** median / plain's median. */
  ratio: number
  /** Per round: this variant's rate / plain's rate in the same round; median, min, max. */
  paired: { median: number, min: number, max: number }
  /** The same for msg/s per broker CPU second (see Sample.ratePerCpu). */
  perCpu: { median: number, ratio: number, paired: number }
  /** Median broker CPU share over the runs. */
  brokerCpu: number
  /** Mean requests per run of the load (scrapes, console API calls), and failures over all runs. */
  requestsPerRun: number
  requestFailures: number
}

/** One row per variant, in the given order; failed runs are counted and left out of the numbers. */
export function summarizeCost (variants: Variant[], samples: Sample[], rounds: number): CostRow[] {
  const ok = (x: Variant): Sample[] => samples.filter(s => s.variant === x && s.rate !== undefined)
  const plain = median(ok('plain').map(s => s.rate as number))
  const cpuOk = (x: Variant): Sample[] => ok(x).filter(s => s.ratePerCpu !== undefined)
  const plainPerCpu = median(cpuOk('plain').map(s => s.ratePerCpu as number))
  return variants.map((variant) => {
    const mine = ok(variant)
    const rates = mine.map(s => s.rate as number)
    const [min, max] = minMax(rates)
    const med = median(rates)
    const pairs: number[] = []
    for (let r = 0; r < rounds; r++) {
      const a = mine.find(s => s.round === r)
      const b = ok('plain').find(s => s.round === r)
      if (a !== undefined && b !== undefined) pairs.push((a.rate as number) / (b.rate as number))
    }
    const [pmin, pmax] = minMax(pairs)
    const cpuPairs: number[] = []
    for (let r = 0; r < rounds; r++) {
      const a = cpuOk(variant).find(s => s.round === r)
      const b = cpuOk('plain').find(s => s.round === r)
      if (a !== undefined && b !== undefined) cpuPairs.push((a.ratePerCpu as number) / (b.ratePerCpu as number))
    }
    const perCpuMedian = median(cpuOk(variant).map(s => s.ratePerCpu as number))
    const loads = mine.filter(s => s.load !== undefined).map(s => s.load as LoadReport)
    return {
      variant,
      runs: mine.length,
      failed: samples.filter(s => s.variant === variant).length - mine.length,
      median: med,
      min,
      max,
      spreadPercent: ((max - min) / med) * 100,
      ratio: med / plain,
      paired: { median: median(pairs), min: pmin, max: pmax },
      perCpu: { median: perCpuMedian, ratio: perCpuMedian / plainPerCpu, paired: median(cpuPairs) },
      brokerCpu: median(cpuOk(variant).map(s => s.brokerCpu as number)),
      requestsPerRun: loads.length === 0 ? 0 : loads.reduce((a, l) => a + l.requests, 0) / loads.length,
      requestFailures: loads.reduce((a, l) => a + l.failures, 0)
    }
  })
}

/** The Markdown table of {@link summarizeCost}'s rows. */
export function costTable (rows: CostRow[]): string {
  const n = (x: number): string => Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–'
  const f = (x: number): string => Number.isFinite(x) ? x.toFixed(3) : '–'
  const lines = [
    '| variant | delivered msg/s, median (min–max) | spread | vs plain (medians) | vs plain, per round: median (min–max) | broker CPU | msg per broker CPU s | vs plain (medians; per round) | HTTP requests per run |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  ]
  for (const r of rows) {
    lines.push(`| ${r.variant}${r.failed > 0 ? ` (${r.failed} failed)` : ''} | ${n(r.median)} (${n(r.min)}–${n(r.max)}) | ${Number.isFinite(r.spreadPercent) ? r.spreadPercent.toFixed(1) : '–'} % | ${f(r.ratio)} | ${f(r.paired.median)} (${f(r.paired.min)}–${f(r.paired.max)}) | ${Number.isFinite(r.brokerCpu) ? (r.brokerCpu * 100).toFixed(0) + ' %' : '–'} | ${n(r.perCpu.median)} | ${f(r.perCpu.ratio)}; ${f(r.perCpu.paired)} | ${r.variant === 'plain' || r.variant === 'http' ? '–' : `${r.requestsPerRun.toFixed(1)}${r.requestFailures > 0 ? `, ${r.requestFailures} failed` : ''}`} |`)
  }
  return lines.join('\n') + '\n'
}
