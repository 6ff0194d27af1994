/**
 * retained: N retained messages on distinct topics under one prefix are stored (QoS 1,
 * acknowledged), then a new client subscribes to `<prefix>/ret/#` and the time from
 * SUBSCRIBE to the last retained message is measured. The retained messages are cleared
 * afterwards (empty retained payloads).
 */
import type { RunContext } from '../context.ts'
import { cpuPercent, lossPercent, perSecond } from '../math.ts'
import { publishAll } from '../publisher.ts'
import type { BenchResult } from '../result.ts'
import { encodePublish, publishPacketIdOffset } from '../wire.ts'

function retainedFrames (prefix: string, n: number, payload: Buffer): { frames: Buffer[], ids: number[] } {
  const frames: Buffer[] = []
  const ids: number[] = []
  for (let i = 0; i < n; i++) {
    const f = encodePublish({ topic: `${prefix}/ret/${i}`, payload, qos: 1, retain: true, packetId: 1 })
    frames.push(f)
    ids.push(publishPacketIdOffset(f))
  }
  return { frames, ids }
}

export async function runRetained (ctx: RunContext): Promise<BenchResult> {
  const o = ctx.options
  const pub = await ctx.connect('pub')
  const store = retainedFrames(o.prefix, o.messages, Buffer.alloc(o.size, 0x61))
  const pa = publishAll(pub, store.frames, store.ids, 1, o.inflight)
  await Promise.race([pa.done, ctx.waitFor('retained: storing', () => pa.acked() === o.messages, pa.acked)])

  const sub = await ctx.connect('sub')
  let last = 0
  sub.onPublish = () => { last = performance.now() }
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  ctx.startProgress(() => `retained ${sub.retainedReceived}/${o.messages}`)
  await sub.subscribe(`${o.prefix}/ret/#`, o.qos)
  const warnings: string[] = []
  let seen = -1
  let quietSince = performance.now()
  while (sub.retainedReceived < o.messages) {
    await ctx.sleep(2)
    if (sub.retainedReceived !== seen) { seen = sub.retainedReceived; quietSince = performance.now() } else if (performance.now() - quietSince > Math.min(2000, o.timeout * 1000)) break
  }
  ctx.stopProgress()
  const ms = (last === 0 ? performance.now() : last) - t0
  const cpu = process.cpuUsage(c0)
  const delivered = sub.retainedReceived
  if (delivered < o.messages) warnings.push(`only ${delivered} of ${o.messages} retained messages arrived`)
  await ctx.release(sub)
  const clear = retainedFrames(o.prefix, o.messages, Buffer.alloc(0))
  const pc = publishAll(pub, clear.frames, clear.ids, 1, o.inflight)
  await Promise.race([pc.done, ctx.waitFor('retained: clearing', () => pc.acked() === o.messages, pc.acked)])
  await ctx.release(pub)
  return {
    type: 'result',
    scenario: 'retained',
    label: o.label,
    target: `${ctx.host}:${ctx.port}`,
    params: { messages: o.messages, qos: o.qos, size: o.size },
    durationMs: ms,
    published: o.messages,
    delivered,
    deliveredRate: perSecond(delivered, ms),
    lossPercent: lossPercent(o.messages, delivered),
    generatorCpuPercent: cpuPercent(cpu, ms),
    warnings
  }
}
