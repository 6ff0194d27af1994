/**
 * backlog: a persistent session (clean session = false) subscribes at QoS ≥ 1 and goes
 * offline; N messages are published and acknowledged while it is away (timed: publishRate,
 * each acknowledged message stored for the offline session); then it reconnects and the time
 * from reconnecting to the last queued message is measured (the drain: deliveredRate).
 * A broker that drops queued messages (queue limits) shows as loss, not as an error.
 * The session is removed afterwards (clean reconnect).
 */
import type { RunContext } from '../context.ts'
import { BenchError, BenchErrorCode } from '../errors.ts'
import { cpuPercent, lossPercent, perSecond } from '../math.ts'
import { publishAll } from '../publisher.ts'
import type { BenchResult } from '../result.ts'
import { encodePublish, publishPacketIdOffset } from '../wire.ts'

export async function runBacklog (ctx: RunContext): Promise<BenchResult> {
  const o = ctx.options
  if (o.qos === 0) throw new BenchError(BenchErrorCode.badArgument, 'backlog needs --qos 1 or 2: QoS 0 messages are not queued for offline sessions')
  const topic = `${o.prefix}/backlog`
  const clientId = ctx.clientId('backlog')
  const sub = await ctx.connect('backlog', { clientId, clean: false })
  await sub.subscribe(topic, o.qos)
  await ctx.release(sub)

  // P publishers (--publishers, default 1) share the N messages, each with its own window
  const pubs = []
  for (let k = 0; k < o.publishers; k++) pubs.push(await ctx.connect('pub'))
  const payload = Buffer.alloc(o.size, 0x61)
  const frame = encodePublish({ topic, payload, qos: o.qos, packetId: 1 })
  const idAt = publishPacketIdOffset(frame)
  const runs = pubs.map((pub, k) => {
    const count = Math.floor(o.messages / o.publishers) + (k < o.messages % o.publishers ? 1 : 0)
    const frames: Buffer[] = []
    for (let i = 0; i < count; i++) frames.push(Buffer.from(frame))
    return { pub, frames }
  })
  const q0 = performance.now()
  const qos = o.qos as 1 | 2 // checked above: backlog needs QoS 1 or 2
  const pas = runs.map((r) => publishAll(r.pub, r.frames, r.frames.map(() => idAt), qos, o.inflight))
  const acked = (): number => { let n = 0; for (const pa of pas) n += pa.acked(); return n }
  ctx.startProgress(() => `backlog queued ${acked()}/${o.messages}`)
  await Promise.race([Promise.all(pas.map((pa) => pa.done)), ctx.waitFor('backlog: publishing', () => acked() === o.messages, acked)])
  const queueMs = performance.now() - q0
  ctx.stopProgress()
  for (const pub of pubs) await ctx.release(pub)

  const c0 = process.cpuUsage()
  const t0 = performance.now()
  let last = t0
  const again = await ctx.connect('backlog', { clientId, clean: false })
  again.onPublish = () => { last = performance.now() }
  ctx.startProgress(() => `backlog drained ${again.received}/${o.messages}`)
  const warnings: string[] = []
  try {
    // a broker that dropped part of the queue stops sending: wait for a quiet period, then report loss
    let seen = -1
    let quietSince = performance.now()
    while (again.received < o.messages) {
      await ctx.sleep(2)
      if (again.received !== seen) { seen = again.received; quietSince = performance.now() } else if (performance.now() - quietSince > Math.min(2000, o.timeout * 1000)) break
    }
  } finally {
    ctx.stopProgress()
  }
  const ms = last - t0
  const cpu = process.cpuUsage(c0)
  const delivered = again.received
  if (delivered < o.messages) warnings.push(`only ${delivered} of ${o.messages} queued messages arrived (broker queue limit?)`)
  await ctx.release(again)
  const cleanup = await ctx.connect('backlog', { clientId, clean: true })
  await ctx.release(cleanup)
  return {
    type: 'result',
    scenario: 'backlog',
    label: o.label,
    target: `${ctx.host}:${ctx.port}`,
    params: { messages: o.messages, publishers: o.publishers, qos: o.qos, size: o.size, inflight: o.inflight },
    durationMs: ms,
    published: o.messages,
    delivered,
    publishRate: perSecond(o.messages, queueMs),
    deliveredRate: perSecond(delivered, ms),
    lossPercent: lossPercent(o.messages, delivered),
    generatorCpuPercent: cpuPercent(cpu, ms),
    warnings
  }
}
