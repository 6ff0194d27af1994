/**
 * storm: N clients connect (and subscribe, each to its own topic) with at most
 * `concurrency` connects in progress, optionally paced to `connectRate` per second.
 * Reports the connect rate and per-client connect(+subscribe) latency; with the broker's
 * pid, its RSS before the storm and `settle` seconds after it, and the difference per
 * connection. With a pid, up to 100 warm-up clients connect (and stay) before the "before"
 * reading, so a fresh process's start-up growth is not charged to the measured clients. The clients then stay idle for `hold` seconds and disconnect.
 */
import type { RunContext } from '../context.ts'
import { LatencyHistogram } from '../histogram.ts'
import { cpuPercent, memoryPerConnection, perSecond } from '../math.ts'
import { readRssKiB } from '../proc.ts'
import type { BenchResult } from '../result.ts'
import { msSummary } from './latency.ts'

export async function runStorm (ctx: RunContext): Promise<BenchResult> {
  const o = ctx.options
  const hist = new LatencyHistogram()
  let rssBefore: number | null = null
  if (o.pid !== null) {
    // warm the broker first (JIT, buffer pools, heap growth of a fresh process), so the RSS
    // delta is the cost of the N connections measured, not of the process waking up
    const warm = Math.min(100, o.clients)
    for (let i = 0; i < warm; i++) {
      const c = await ctx.connect('storm-warm')
      if (o.subscribe) await c.subscribe(`${o.prefix}/storm/warm/${i}`, o.qos)
    }
    await ctx.sleep(Math.min(500, o.settle * 1000))
    rssBefore = await readRssKiB(o.pid)
  }
  let next = 0
  let connected = 0
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  ctx.startProgress(() => `storm ${connected}/${o.clients} connected`)
  const worker = async (): Promise<void> => {
    while (next < o.clients) {
      const i = next++
      if (o.connectRate > 0) {
        const at = t0 + (i * 1000) / o.connectRate
        const wait = at - performance.now()
        if (wait > 0) await ctx.sleep(wait)
      }
      const s = performance.now()
      const c = await ctx.connect('storm')
      if (o.subscribe) await c.subscribe(`${o.prefix}/storm/${i}`, o.qos)
      hist.record((performance.now() - s) * 1000)
      connected++
    }
  }
  const workers: Array<Promise<void>> = []
  for (let w = 0; w < Math.min(o.concurrency, o.clients); w++) workers.push(worker())
  await Promise.race([Promise.all(workers), ctx.failed])
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  ctx.stopProgress()
  let memory: BenchResult['memory']
  if (o.pid !== null && rssBefore !== null) {
    await ctx.sleep(o.settle * 1000)
    const rssAfter = await readRssKiB(o.pid)
    memory = { rssBeforeKiB: rssBefore, rssAfterKiB: rssAfter, perConnectionKiB: memoryPerConnection(rssBefore, rssAfter, connected) }
  }
  if (o.hold > 0) await ctx.sleep(o.hold * 1000)
  ctx.check()
  const result: BenchResult = {
    type: 'result',
    scenario: 'storm',
    label: o.label,
    target: `${ctx.host}:${ctx.port}`,
    params: { clients: o.clients, concurrency: o.concurrency, connectRate: o.connectRate, subscribe: o.subscribe, qos: o.qos, settle: o.settle },
    durationMs: ms,
    connect: { clients: connected, ratePerSecond: perSecond(connected, ms), latencyMs: msSummary(hist) },
    generatorCpuPercent: cpuPercent(cpu, ms),
    warnings: []
  }
  if (memory !== undefined) result.memory = memory
  return result
}
