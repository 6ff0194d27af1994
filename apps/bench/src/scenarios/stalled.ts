/**
 * stalled: does a subscriber that stops reading hurt the others?
 *
 * P publishers (default 4): the first half publish QoS 0 flat out (held back by --max-lag
 * like fan-in), the others QoS 1 keeping --inflight (32) unacknowledged, each on its own
 * topic `<prefix>/in/<p>`. S healthy subscribers (2) take `<prefix>/in/+` at QoS 1.
 *
 *  1. baseline: --warmup s, then --duration s measured;
 *  2. stalled: a raw TCP client connects (clean session), subscribes to `#` at QoS 1 and
 *     never reads again; --duration s measured from the moment it stopped reading (the
 *     broker's reaction time is part of the window, not hidden in a warm-up);
 *  3. after: that client is closed; --duration s measured (recovery).
 *
 * Reports the healthy subscribers' delivered msg/s in each phase (deliveredRate is the
 * stalled phase) and its ratio to the mean of the phases without the stalled client (before
 * and after: drift such as JIT warm-up or the machine's load cancels out), QoS 1 alone too (the traffic a broker that
 * never drops acknowledged messages must hold back for the stalled client), the broker's
 * RSS (with --pid: at the end of the baseline and the peak sampled every 100 ms while
 * stalled), whether the broker disconnected the stalled client by the end of that window
 * (a client that does not read cannot see a FIN: it reads once the window is over, and a
 * close or end within 1 s counts), and QoS 1 messages acknowledged to their publisher that
 * some healthy subscriber never received.
 */
import net from 'node:net'
import type { RunContext } from '../context.ts'
import { BenchError, BenchErrorCode } from '../errors.ts'
import { cpuPercent, perSecond } from '../math.ts'
import { readRssKiB } from '../proc.ts'
import { LagGate, Publisher } from '../publisher.ts'
import type { BenchResult } from '../result.ts'
import type { BenchClient } from '../client.ts'
import { T, encodeConnect, encodePublish, encodeSubscribe, publishPacketIdOffset, publishPayloadOffset } from '../wire.ts'

/** A QoS 1 publisher whose payload carries (publisher, sequence); marks each acknowledged sequence. */
class TrackedPublisher {
  acked = 0
  next = 0
  running = false
  readonly ackedSeq: Uint8Array
  readonly #client: BenchClient
  readonly #slots: Buffer[] = []
  readonly #seqOf: Int32Array
  readonly #idAt: number
  readonly #payloadAt: number

  constructor (client: BenchClient, topic: string, p: number, size: number, window: number, cap: number) {
    this.#client = client
    this.ackedSeq = new Uint8Array(cap)
    this.#seqOf = new Int32Array(window + 1).fill(-1)
    const payload = Buffer.alloc(size, 0x61)
    payload.writeUInt32BE(p, 0)
    for (let id = 1; id <= window; id++) this.#slots.push(encodePublish({ topic, payload, qos: 1, packetId: id }))
    this.#idAt = publishPacketIdOffset(this.#slots[0] as Buffer)
    this.#payloadAt = publishPayloadOffset(this.#slots[0] as Buffer)
    client.onAck = (type, id) => {
      if (type !== T.puback || id < 1 || id > window) return
      const seq = this.#seqOf[id] as number
      if (seq < 0) return
      this.#seqOf[id] = -1
      this.ackedSeq[seq] = 1
      this.acked++
      if (this.running) this.#send(id)
    }
  }

  // a slot is written again only once its PUBACK came back: the previous write has left the socket
  #send (id: number): void {
    if (this.next >= this.ackedSeq.length) return
    const f = this.#slots[id - 1] as Buffer
    const seq = this.next++
    f.writeUInt32BE(seq, this.#payloadAt + 4)
    f[this.#idAt] = id >> 8
    f[this.#idAt + 1] = id & 255
    this.#seqOf[id] = seq
    this.#client.write(f)
  }

  start (): void {
    this.running = true
    this.#client.socket.cork()
    for (let id = 1; id <= this.#slots.length; id++) this.#send(id)
    this.#client.socket.uncork()
  }

  stop (): void { this.running = false }
}

/** A client that connects, subscribes to `#` at QoS 1 and then never reads. */
async function stalledClient (ctx: RunContext, clientId: string): Promise<{ socket: net.Socket, closed: () => boolean }> {
  const socket = net.connect({ host: ctx.host, port: ctx.port })
  let closed = false
  socket.on('error', () => {}) // a reset by the broker is one of the outcomes measured
  socket.once('end', () => { closed = true })
  socket.once('close', () => { closed = true })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new BenchError(BenchErrorCode.timeout, `stalled client: no CONNACK + SUBACK from ${ctx.host}:${ctx.port} within ${ctx.options.timeout} s`)) }, ctx.options.timeout * 1000)
    let got = Buffer.alloc(0)
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d])
      // CONNACK (4 bytes) then SUBACK (5 bytes); deliveries may follow in the same chunk
      if (got.length >= 9) {
        clearTimeout(timer)
        socket.off('data', onData)
        socket.pause()
        if (got[0] !== 0x20 || got[3] !== 0 || got[4] !== 0x90 || got[8] === 0x80) reject(new BenchError(BenchErrorCode.refused, `stalled client: CONNECT or SUBSCRIBE # refused by ${ctx.host}:${ctx.port}`))
        else resolve()
      }
    }
    socket.on('data', onData)
    socket.once('connect', () => {
      socket.write(Buffer.concat([encodeConnect({ clientId, clean: true, keepalive: 0 }), encodeSubscribe(1, ['#'], 1)]))
    })
    socket.once('close', () => { clearTimeout(timer); reject(new BenchError(BenchErrorCode.disconnected, 'stalled client: closed before SUBACK')) })
  })
  return { socket, closed: () => closed }
}

export async function runStalled (ctx: RunContext): Promise<BenchResult> {
  const o = ctx.options
  if (o.size < 8) throw new BenchError(BenchErrorCode.badArgument, `--size must be at least 8 for stalled (the payload carries publisher and sequence), got ${o.size}`)
  if (o.publishers < 2) throw new BenchError(BenchErrorCode.badArgument, `stalled needs at least 2 publishers (QoS 0 and QoS 1), got ${o.publishers}`)
  const q0 = Math.floor(o.publishers / 2)
  const cap = o.messages
  // deliveries per healthy subscriber: QoS 0 and QoS 1 counts, and which QoS 1 sequences arrived
  const subs: BenchClient[] = []
  const seen: Uint8Array[][] = []
  const count0: number[] = []
  const count1: number[] = []
  let foreign = 0
  for (let i = 0; i < o.subscribers; i++) {
    const c = await ctx.connect('sub')
    await c.subscribe(`${o.prefix}/in/+`, 1)
    const mine: Uint8Array[] = []
    for (let p = 0; p < o.publishers; p++) mine.push(p < q0 ? new Uint8Array(0) : new Uint8Array(cap))
    seen.push(mine)
    count0.push(0)
    count1.push(0)
    c.onPublish = (buf, start, end) => {
      if (end - start < 8) { foreign++; return }
      const p = buf.readUInt32BE(start)
      if (p >= o.publishers) { foreign++; return }
      if (p < q0) { count0[i]!++; return }
      const seq = buf.readUInt32BE(start + 4)
      if (seq >= cap) { foreign++; return }
      count1[i]!++
      mine[p]![seq] = 1
    }
    subs.push(c)
  }
  const delivered0 = (): number => { let n = 0; for (const k of count0) n += k; return n }
  const delivered1 = (): number => { let n = 0; for (const k of count1) n += k; return n }
  const pub0: Publisher[] = []
  const pub1: TrackedPublisher[] = []
  const sent0 = (): number => { let n = 0; for (const p of pub0) n += p.sent; return n }
  const gate = new LagGate(o.maxLag, o.subscribers, sent0, delivered0)
  for (let p = 0; p < o.publishers; p++) {
    const c = await ctx.connect('pub')
    const topic = `${o.prefix}/in/${p}`
    if (p < q0) {
      const payload = Buffer.alloc(o.size, 0x61)
      payload.writeUInt32BE(p, 0)
      pub0.push(new Publisher(c, { topic, payload, qos: 0, inflight: 1, rate: 0, ...(o.maxLag > 0 ? { blocked: gate.blocked, maxBatch: Math.max(1, Math.floor(o.maxLag / o.subscribers / 4)) } : {}) }))
    } else {
      pub1.push(new TrackedPublisher(c, topic, p, o.size, o.inflight, cap))
    }
  }

  /** Healthy deliveries (QoS 0, QoS 1) over `ms`, measured now. */
  const measure = async (ms: number, during?: () => void): Promise<{ all: number, q1: number, ms: number }> => {
    const d0 = delivered0()
    const d1 = delivered1()
    const t0 = performance.now()
    const end = t0 + ms
    while (performance.now() < end) {
      await ctx.sleep(Math.min(100, Math.max(1, end - performance.now())))
      if (during !== undefined) during()
    }
    const took = performance.now() - t0
    return { all: perSecond(delivered0() - d0 + delivered1() - d1, took), q1: perSecond(delivered1() - d1, took), ms: took }
  }

  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (const p of pub0) p.start()
  for (const p of pub1) p.start()
  ctx.startProgress(() => `stalled: healthy deliveries ${(delivered0() + delivered1()).toLocaleString('en-US')}`)
  const warnings: string[] = []
  let baseline, stalled, after
  let rssBefore = Number.NaN
  let rssPeak = Number.NaN
  let disconnected = false
  try {
    await ctx.sleep(o.warmup * 1000)
    baseline = await measure(o.duration * 1000)
    if (o.pid !== null) rssBefore = await readRssKiB(o.pid)
    rssPeak = rssBefore
    let sampling = false
    const sample = (): void => {
      if (o.pid === null || sampling) return
      sampling = true
      readRssKiB(o.pid).then((r) => { if (!(r <= rssPeak)) rssPeak = r }, () => {}).finally(() => { sampling = false })
    }
    const st = await stalledClient(ctx, ctx.clientId('stalled'))
    stalled = await measure(o.duration * 1000, sample)
    // the window is over: read (and drop) what the broker sent, to see whether it closed the connection
    st.socket.on('data', () => {})
    st.socket.resume()
    const seeUntil = performance.now() + 1000
    while (!st.closed() && performance.now() < seeUntil) await ctx.sleep(20)
    disconnected = st.closed()
    st.socket.destroy()
    after = await measure(o.duration * 1000)
  } finally {
    for (const p of pub0) p.stop()
    for (const p of pub1) p.stop()
    ctx.stopProgress()
  }
  const cpu = process.cpuUsage(c0)
  const base = (baseline.all + after.all) / 2
  const base1 = (baseline.q1 + after.q1) / 2
  // wind down: the last acknowledged QoS 1 messages arrive (until nothing arrives for 500 ms, at most 5 s)
  const windDown = performance.now() + 5000
  let last = delivered1()
  let quietSince = performance.now()
  while (performance.now() < windDown) {
    await ctx.sleep(20)
    const d = delivered1()
    if (d !== last) { last = d; quietSince = performance.now() } else if (performance.now() - quietSince > 500) break
  }
  let acknowledged = 0
  let lostAfterAck = 0
  for (let k = 0; k < pub1.length; k++) {
    const pub = pub1[k] as TrackedPublisher
    const p = q0 + k
    for (let seq = 0; seq < pub.next; seq++) {
      if (pub.ackedSeq[seq] !== 1) continue
      acknowledged++
      for (const mine of seen) if (mine[p]![seq] !== 1) lostAfterAck++
    }
    if (pub.next >= cap) warnings.push(`publisher ${p} reached --messages (${cap}) and stopped: raise --messages`)
  }
  if (foreign > 0) warnings.push(`${foreign} deliveries not from this run`)
  return {
    type: 'result',
    scenario: 'stalled',
    label: o.label,
    target: `${ctx.host}:${ctx.port}`,
    params: { publishers: o.publishers, qos0Publishers: q0, subscribers: o.subscribers, size: o.size, inflight: o.inflight, maxLag: o.maxLag, warmup: o.warmup, duration: o.duration },
    durationMs: stalled.ms,
    delivered: Math.round(stalled.all * stalled.ms / 1000),
    deliveredRate: stalled.all,
    lossPercent: acknowledged === 0 ? 0 : 100 * lostAfterAck / (acknowledged * o.subscribers),
    stalled: {
      baselineRate: baseline.all,
      stalledRate: stalled.all,
      afterRate: after.all,
      ratioPercent: base > 0 ? 100 * stalled.all / base : Number.NaN,
      qos1BaselineRate: baseline.q1,
      qos1StalledRate: stalled.q1,
      qos1RatioPercent: base1 > 0 ? 100 * stalled.q1 / base1 : Number.NaN,
      rssBeforeKiB: rssBefore,
      rssPeakKiB: rssPeak,
      rssGrowthKiB: rssPeak - rssBefore,
      disconnected,
      acknowledged,
      lostAfterAck
    },
    generatorCpuPercent: cpuPercent(cpu, performance.now() - t0),
    warnings
  }
}
