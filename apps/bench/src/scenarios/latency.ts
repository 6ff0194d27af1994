/**
 * latency: publishers send at a fixed offered rate; each payload carries the message's
 * intended send time (performance.now() clock, float64 LE at payload offset 0). Subscribers
 * in this process record now − intended. A sender on schedule stamps the send time; a sender
 * more than ~3 ms behind (a full QoS window, a busy event loop) stamps the scheduled time, so
 * the backlog shows up as latency instead of hiding it (no coordinated omission).
 * Only messages intended inside the measured window are recorded.
 */
import type { RunContext } from '../context.ts'
import { LatencyHistogram, type HistogramSummary } from '../histogram.ts'
import { cpuPercent, dueMessages, intendedSendTime, lossPercent, perSecond } from '../math.ts'
import type { BenchResult } from '../result.ts'
import type { BenchClient } from '../client.ts'
import { T, encodePublish, publishPayloadOffset } from '../wire.ts'

function msSummary (h: LatencyHistogram): HistogramSummary {
  const s = h.summary()
  const k = 1000
  return { count: s.count, min: s.min / k, mean: s.mean / k, p50: s.p50 / k, p90: s.p90 / k, p99: s.p99 / k, p999: s.p999 / k, max: s.max / k }
}

export async function runLatency (ctx: RunContext): Promise<BenchResult> {
  const o = ctx.options
  const topic = `${o.prefix}/lat`
  const hist = new LatencyHistogram()
  let windowStart = Infinity
  let windowEnd = Infinity
  let inWindow = 0
  const subs: BenchClient[] = []
  for (let i = 0; i < o.subscribers; i++) {
    const c = await ctx.connect('sub')
    await c.subscribe(topic, o.qos)
    c.onPublish = (buf, start) => {
      const intended = buf.readDoubleLE(start)
      if (intended < windowStart || intended >= windowEnd) return
      inWindow++
      hist.record((performance.now() - intended) * 1000)
    }
    subs.push(c)
  }
  const template = encodePublish({ topic, payload: Buffer.alloc(o.size, 0x61), qos: o.qos, packetId: 1 })
  const payloadAt = publishPayloadOffset(template)
  const perPub = o.rate / o.publishers
  const lateAllowance = Math.ceil(perPub * 0.003) + 1
  const senders: Array<{ sent: number, stop: () => void }> = []
  const t0 = performance.now()
  let sentInWindow = 0

  for (let p = 0; p < o.publishers; p++) {
    const c = await ctx.connect('pub')
    const s = { sent: 0, stop: () => {} }
    const free: Buffer[] = []
    if (o.qos > 0) {
      for (let i = 0; i < o.inflight; i++) {
        const f = Buffer.from(template)
        f[payloadAt - 2] = (i + 1) >> 8
        f[payloadAt - 1] = (i + 1) & 255
        free.push(f)
      }
      const slots = [...free]
      const done = o.qos === 1 ? T.puback : T.pubcomp
      c.onAck = (type, id) => { if (type === done && id >= 1 && id <= slots.length) free.push(slots[id - 1] as Buffer) }
    }
    const tick = (): void => {
      const now = performance.now()
      let due = dueMessages(perPub, now - t0, s.sent)
      if (due === 0) return
      // behind by more than timer granularity (a full QoS window, a stalled loop): stamp the
      // schedule time so the delay counts; otherwise stamp the send time so the 1 ms timer
      // granularity of the sender does not count as broker latency
      const behind = due > lateAllowance
      c.socket.cork()
      while (due > 0) {
        let f: Buffer
        if (o.qos === 0) {
          f = Buffer.allocUnsafe(template.length)
          template.copy(f)
        } else {
          const slot = free.pop()
          if (slot === undefined) break // window full: the message stays due, its latency grows
          f = slot
        }
        const intended = behind ? t0 + intendedSendTime(perPub, s.sent) : now
        f.writeDoubleLE(intended, payloadAt)
        if (intended >= windowStart && intended < windowEnd) sentInWindow++
        s.sent++
        due--
        c.write(f)
      }
      c.socket.uncork()
    }
    const timer = setInterval(tick, 1)
    s.stop = () => clearInterval(timer)
    senders.push(s)
  }
  ctx.startProgress(() => `latency ${((performance.now() - t0) / 1000).toFixed(1)} s  p50 ${(hist.percentile(50) / 1000).toFixed(3)} ms  p99 ${(hist.percentile(99) / 1000).toFixed(3)} ms`)
  await ctx.sleep(o.warmup * 1000)
  windowStart = performance.now()
  windowEnd = windowStart + o.duration * 1000
  const c0 = process.cpuUsage()
  await ctx.sleep(o.duration * 1000)
  const cpu = process.cpuUsage(c0)
  const ms = performance.now() - windowStart
  for (const s of senders) s.stop()
  // stragglers intended inside the window: wait until all arrived or 2 s passed
  const expected = sentInWindow * o.subscribers
  const graceEnd = performance.now() + 2000
  const arrived = (): number => inWindow
  while (arrived() < expected && performance.now() < graceEnd) await ctx.sleep(5)
  ctx.stopProgress()
  const warnings: string[] = []
  const cpuPct = cpuPercent(cpu, ms)
  if (cpuPct > 90) warnings.push(`generator CPU ${cpuPct.toFixed(0)} %: latency includes the generator's own queueing`)
  const offered = o.rate * (ms / 1000)
  if (sentInWindow < offered * 0.95) warnings.push(`sent ${sentInWindow} of ${Math.round(offered)} offered in the window (QoS window full or generator behind)`)
  return {
    type: 'result',
    scenario: 'latency',
    label: o.label,
    target: `${ctx.host}:${ctx.port}`,
    params: { publishers: o.publishers, subscribers: o.subscribers, qos: o.qos, size: o.size, inflight: o.inflight, rate: o.rate, warmup: o.warmup, duration: o.duration },
    durationMs: ms,
    published: sentInWindow,
    delivered: inWindow,
    publishRate: perSecond(sentInWindow, ms),
    deliveredRate: perSecond(inWindow, ms),
    lossPercent: lossPercent(expected, inWindow),
    latencyMs: msSummary(hist),
    generatorCpuPercent: cpuPct,
    warnings
  }
}

export { msSummary }
