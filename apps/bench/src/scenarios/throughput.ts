/**
 * fan-in (P publishers → 1 subscriber on a wildcard) and fan-out (1 publisher → S
 * subscribers on one topic), at QoS 0, 1 or 2, flat out or at a rate.
 *
 * Warm-up first (counts discarded), then counters are read at the start and end of the
 * measured window. Delivered messages/s is the headline number.
 */
import type { RunContext } from '../context.ts'
import { cpuPercent, expectedDeliveries, lossPercent, perSecond } from '../math.ts'
import { LagGate, Publisher } from '../publisher.ts'
import type { BenchResult } from '../result.ts'
import type { BenchClient } from '../client.ts'

export async function runThroughput (ctx: RunContext): Promise<BenchResult> {
  const o = ctx.options
  const fanIn = o.scenario === 'fan-in'
  const subs: BenchClient[] = []
  const subIds: string[] = []
  for (let i = 0; i < o.subscribers; i++) {
    const clientId = ctx.clientId('sub')
    subIds.push(clientId)
    const c = await ctx.connect('sub', { clientId, clean: !o.persistent })
    await c.subscribe(fanIn ? `${o.prefix}/in/+` : `${o.prefix}/out`, o.qos)
    subs.push(c)
  }
  const payload = Buffer.alloc(o.size, 0x61)
  const pubs: Publisher[] = []
  const pubClients: BenchClient[] = []
  const delivered = (): number => { let n = 0; for (const s of subs) n += s.received; return n }
  const published = (): number => { let n = 0; for (const p of pubs) n += p.sent; return n }
  const gate = new LagGate(o.maxLag, fanIn ? 1 : o.subscribers, published, delivered)
  for (let i = 0; i < o.publishers; i++) {
    const c = await ctx.connect('pub')
    pubClients.push(c)
    pubs.push(new Publisher(c, {
      topic: fanIn ? `${o.prefix}/in/${i}` : `${o.prefix}/out`,
      payload,
      qos: o.qos,
      inflight: o.inflight,
      rate: o.rate / o.publishers,
      ...(o.maxLag > 0 ? { blocked: gate.blocked, maxBatch: Math.max(1, Math.floor(o.maxLag / (fanIn ? 1 : o.subscribers) / 4)) } : {})
    }))
  }

  const t0 = performance.now()
  let lastD = 0
  let lastT = t0
  ctx.startProgress(() => {
    const now = performance.now()
    const d = delivered()
    const rate = perSecond(d - lastD, now - lastT)
    lastD = d
    lastT = now
    const phase = now - t0 < o.warmup * 1000 ? 'warm-up' : 'measure'
    return `${o.scenario} ${phase} ${((now - t0) / 1000).toFixed(1)} s  delivered ${Math.round(rate).toLocaleString('en-US')} msg/s`
  })
  for (const p of pubs) p.start()
  await ctx.sleep(o.warmup * 1000)
  const p0 = published()
  const d0 = delivered()
  const c0 = process.cpuUsage()
  const m0 = performance.now()
  await ctx.sleep(o.duration * 1000)
  const p1 = published()
  const d1 = delivered()
  const cpu = process.cpuUsage(c0)
  const ms = performance.now() - m0
  for (const p of pubs) p.stop()
  ctx.stopProgress()
  // wind down gently: let in-transit messages arrive (at most 3 s, or until nothing arrives
  // for 300 ms), then close publishers before subscribers, so the broker is not left with
  // queues for clients that vanished and queued messages are not miscounted as lost
  const windDown = performance.now() + 3000
  let lastSeen = delivered()
  let quietSince = performance.now()
  while (gate.outstanding() > 0 && performance.now() < windDown) {
    await ctx.sleep(10)
    const d = delivered()
    if (d !== lastSeen) { lastSeen = d; quietSince = performance.now() } else if (performance.now() - quietSince > 300) break
  }
  for (const c of pubClients) await ctx.release(c)

  const pub = p1 - p0
  const del = d1 - d0
  // loss over the whole run after the wind-down: window edges (messages published before
  // the window and delivered in it, or the reverse) cancel out
  const expected = expectedDeliveries(published(), fanIn ? 1 : o.subscribers)
  const deliveredTotal = delivered()
  if (o.persistent) {
    // leave no sessions behind: a clean connect removes each subscriber's stored session
    for (const c of subs) await ctx.release(c)
    for (const clientId of subIds) await ctx.release(await ctx.connect('sub', { clientId, clean: true }))
  }
  const warnings: string[] = []
  if (pub === 0) warnings.push('nothing was published in the measured window')
  const cpuPct = cpuPercent(cpu, ms)
  if (cpuPct > 90) warnings.push(`generator CPU ${cpuPct.toFixed(0)} %: the generator may be the bottleneck`)
  return {
    type: 'result',
    scenario: o.scenario,
    label: o.label,
    target: `${ctx.host}:${ctx.port}`,
    params: { publishers: o.publishers, subscribers: o.subscribers, persistent: o.persistent, qos: o.qos, size: o.size, inflight: o.inflight, rate: o.rate, maxLag: o.maxLag, warmup: o.warmup, duration: o.duration },
    durationMs: ms,
    published: pub,
    delivered: del,
    publishRate: perSecond(pub, ms),
    deliveredRate: perSecond(del, ms),
    lossPercent: lossPercent(expected, deliveredTotal),
    generatorCpuPercent: cpuPct,
    warnings
  }
}
