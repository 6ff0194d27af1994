/**
 * overload: P publishers (default 4) each keep `--inflight` (default 100) QoS 1 or 2 PUBLISH
 * unacknowledged until `--messages` (over all publishers) were acknowledged, to one
 * subscriber on a wildcard (clean session, or `--persistent`). The subscriber's own inflight
 * window is smaller than what the publishers keep outstanding, so the broker's queue for it
 * fills: a broker either holds back its acknowledgements (no loss) or drops what it already
 * acknowledged.
 *
 * Every payload carries (publisher, sequence), so the result counts each message: acknowledged
 * (PUBACK / PUBCOMP), delivered (distinct), lost after ack (acknowledged, never delivered), and
 * duplicates (deliveries beyond the first). deliveredRate is distinct deliveries per second
 * from the first PUBLISH to the last delivery.
 */
import type { RunContext } from '../context.ts'
import { BenchError, BenchErrorCode } from '../errors.ts'
import { cpuPercent, lossPercent, perSecond } from '../math.ts'
import type { BenchResult } from '../result.ts'
import type { BenchClient } from '../client.ts'
import { T, encodePublish, publishPacketIdOffset } from '../wire.ts'

/** One publisher's run: frames sent in order, a window of packet ids, acks marked per message. */
function publishTracked (client: BenchClient, frames: readonly Buffer[], idAt: number, qos: 1 | 2, window: number, acked: Uint8Array, base: number): { done: Promise<void>, count: () => number } {
  let next = 0
  let n = 0
  const doneType = qos === 1 ? T.puback : T.pubcomp
  // packet id → index of the message it carries now
  const byId = new Int32Array(65536).fill(-1)
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => { resolveDone = resolve })
  const send = (id: number): void => {
    const i = next++
    const f = frames[i] as Buffer
    f[idAt] = id >> 8
    f[idAt + 1] = id & 255
    byId[id] = i
    client.write(f)
  }
  client.onAck = (type, id) => {
    if (type !== doneType) return
    const i = byId[id] as number
    if (i < 0) return
    byId[id] = -1
    acked[base + i] = 1
    n++
    if (n === frames.length) { client.onAck = null; resolveDone(); return }
    if (next < frames.length) send(id)
  }
  if (frames.length === 0) resolveDone()
  client.socket.cork()
  for (let id = 1; id <= window && next < frames.length; id++) send(id)
  client.socket.uncork()
  return { done, count: () => n }
}

export async function runOverload (ctx: RunContext): Promise<BenchResult> {
  const o = ctx.options
  if (o.qos === 0) throw new BenchError(BenchErrorCode.badArgument, 'overload needs --qos 1 or 2: it counts acknowledged messages')
  if (o.size < 8) throw new BenchError(BenchErrorCode.badArgument, `--size must be at least 8 for overload (the payload carries publisher and sequence), got ${o.size}`)
  const qos = o.qos as 1 | 2
  const clientId = ctx.clientId('overload-sub')
  const sub = await ctx.connect('sub', { clientId, clean: !o.persistent })
  await sub.subscribe(`${o.prefix}/in/+`, qos)
  const perPub = Math.ceil(o.messages / o.publishers)
  const total = perPub * o.publishers
  const acked = new Uint8Array(total)
  const seen = new Uint16Array(total)
  let distinct = 0
  let duplicates = 0
  let foreign = 0
  let last = 0
  sub.onPublish = (buf, start, end) => {
    last = performance.now()
    if (end - start < 8) { foreign++; return }
    const p = buf.readUInt32BE(start)
    const i = buf.readUInt32BE(start + 4)
    const k = p * perPub + i
    if (p >= o.publishers || i >= perPub) { foreign++; return }
    if (seen[k] === 0) distinct++
    else duplicates++
    if (seen[k]! < 65535) seen[k]!++
  }
  const pubs: BenchClient[] = []
  for (let p = 0; p < o.publishers; p++) pubs.push(await ctx.connect('pub'))
  const runs = pubs.map((pub, p) => {
    const frames: Buffer[] = []
    for (let i = 0; i < perPub; i++) {
      const payload = Buffer.alloc(o.size, 0x61)
      payload.writeUInt32BE(p, 0)
      payload.writeUInt32BE(i, 4)
      frames.push(encodePublish({ topic: `${o.prefix}/in/${p}`, payload, qos, packetId: 1 }))
    }
    return { pub, frames, idAt: publishPacketIdOffset(frames[0] as Buffer) }
  })
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const pas = runs.map((r, p) => publishTracked(r.pub, r.frames, r.idAt, qos, o.inflight, acked, p * perPub))
  const ackedCount = (): number => { let n = 0; for (const pa of pas) n += pa.count(); return n }
  ctx.startProgress(() => `overload acked ${ackedCount()}/${total} delivered ${distinct}`)
  const warnings: string[] = []
  try {
    // until every publisher is done, or acks stop coming for --timeout
    let seenAcks = -1
    let quietSince = performance.now()
    for (;;) {
      const a = ackedCount()
      if (a === total) break
      if (a !== seenAcks) { seenAcks = a; quietSince = performance.now() } else if (performance.now() - quietSince > o.timeout * 1000) {
        warnings.push(`acknowledgements stopped at ${a} of ${total}`)
        break
      }
      await ctx.sleep(5)
    }
    // then until every acknowledged message arrived, or deliveries stop for 2 s
    let seenDel = -1
    quietSince = performance.now()
    for (;;) {
      if (distinct >= total) break
      if (distinct !== seenDel) { seenDel = distinct; quietSince = performance.now() } else if (performance.now() - quietSince > Math.min(2000, o.timeout * 1000)) break
      await ctx.sleep(5)
    }
    await ctx.sleep(200) // late duplicates show
  } finally {
    ctx.stopProgress()
  }
  const cpu = process.cpuUsage(c0)
  const ms = (last > t0 ? last : performance.now()) - t0
  let acknowledged = 0
  let lostAfterAck = 0
  for (let k = 0; k < total; k++) {
    if (acked[k] === 1) {
      acknowledged++
      if (seen[k] === 0) lostAfterAck++
    }
  }
  if (foreign > 0) warnings.push(`${foreign} deliveries not from this run`)
  for (const pub of pubs) await ctx.release(pub)
  await ctx.release(sub)
  if (o.persistent) await ctx.release(await ctx.connect('sub', { clientId, clean: true }))
  return {
    type: 'result',
    scenario: 'overload',
    label: o.label,
    target: `${ctx.host}:${ctx.port}`,
    params: { publishers: o.publishers, persistent: o.persistent, qos: o.qos, size: o.size, inflight: o.inflight, messages: total },
    durationMs: ms,
    published: acknowledged,
    delivered: distinct,
    publishRate: perSecond(acknowledged, ms),
    deliveredRate: perSecond(distinct, ms),
    lossPercent: lossPercent(acknowledged, acknowledged - lostAfterAck),
    overload: { acknowledged, delivered: distinct, lostAfterAck, duplicates },
    generatorCpuPercent: cpuPercent(cpu, ms),
    warnings
  }
}
