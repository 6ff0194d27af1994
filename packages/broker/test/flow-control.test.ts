/**
 * Flow control: a full subscriber queue holds back its publishers' acknowledgements instead
 * of dropping acknowledged messages (queuePolicy 'block', the default); a subscriber full
 * for too long is stalled (0x97); 'drop-oldest' and 'reject' as explicit options.
 */
import t, { type Test } from 'tap'
import { connect, delay, setup, type AnyPacket, type TestClient } from './helper.ts'
import { FakeClock } from './fake-clock.ts'
import { describeSession, type Broker, type BrokerOptions } from '../src/index.ts'

type Client = TestClient & { connack: AnyPacket }

/**
 * A subscriber that acknowledges every delivery (QoS 1 PUBACK, QoS 2 PUBREC then PUBCOMP on
 * PUBREL), pausing `slowMs` after every `every` messages (with `pause`: real time by default),
 * until it has `expected` messages or nothing came for `idleMs`. Resolves to the payloads
 * received, in order.
 */
async function consume (c: Client, opts: { every: number, slowMs: number, expected: number, idleMs?: number, pause?: (ms: number) => Promise<void> }): Promise<string[]> {
  const got: string[] = []
  let n = 0
  while (got.length < opts.expected) {
    let p: AnyPacket
    try {
      p = await c.next(undefined, opts.idleMs ?? 3000)
    } catch {
      break
    }
    if (p.cmd === 'publish') {
      got.push(p.payload.toString())
      if (p.qos === 1) c.send({ cmd: 'puback', messageId: p.messageId })
      else if (p.qos === 2) c.send({ cmd: 'pubrec', messageId: p.messageId })
      if (++n % opts.every === 0) await (opts.pause ?? delay)(opts.slowMs)
    } else if (p.cmd === 'pubrel') {
      c.send({ cmd: 'pubcomp', messageId: p.messageId })
    }
  }
  // the last PUBRELs of a QoS 2 run
  for (const p of c.received.splice(0)) if (p.cmd === 'pubrel') c.send({ cmd: 'pubcomp', messageId: p.messageId })
  return got
}

/**
 * A publisher keeping `window` QoS `qos` messages unacknowledged until `count` were
 * acknowledged (PUBACK, or PUBREC for QoS 2). Returns the payloads acknowledged with 0.
 */
async function produce (c: Client, name: string, count: number, qos: 1 | 2, window: number, topic = `load/${name}`): Promise<{ acked: string[], codes: number[] }> {
  const byId = new Map<number, string>()
  const acked: string[] = []
  const codes: number[] = []
  let sent = 0
  const send = (): void => {
    const payload = `${name}-${sent++}`
    byId.set(c.publish(topic, payload, qos), payload)
  }
  for (let i = 0; i < window && i < count; i++) send()
  let done = 0
  while (done < count) {
    const p = await c.next(undefined, 10_000)
    if ((p.cmd === 'puback' && qos === 1) || (p.cmd === 'pubrec' && qos === 2)) {
      const rc = p.reasonCode ?? 0
      codes.push(rc)
      if (rc === 0) acked.push(byId.get(p.messageId)!)
      if (qos === 2 && rc < 0x80) c.send({ cmd: 'pubrel', messageId: p.messageId })
      byId.delete(p.messageId)
      done++
      if (sent < count) send()
    }
  }
  return { acked, codes }
}

/** 4 publishers × `count` with 100 unacknowledged each, one slow wildcard subscriber. */
async function overload (t: Test, broker: Broker, qos: 1 | 2, clean: boolean, count: number): Promise<void> {
  const sub = await connect(t, broker, { clientId: 'slow-sub', clean })
  await sub.subscribe('load/#', qos)
  const pubs = await Promise.all([0, 1, 2, 3].map(async () => await connect(t, broker, {})))
  const received = consume(sub, { every: 25, slowMs: 2, expected: 4 * count })
  const results = await Promise.all(pubs.map(async (p, i) => await produce(p, `p${i}`, count, qos, 100)))
  const acked = results.flatMap((r) => r.acked)
  t.equal(acked.length, 4 * count, `all ${4 * count} acknowledged with 0x00`)
  const got = await received
  const seen = new Set(got)
  t.equal(acked.filter((p) => !seen.has(p)).length, 0, 'no acknowledged message lost')
  t.equal(got.length, seen.size, 'no duplicate')
  t.equal(seen.size, 4 * count, 'exact count delivered')
  t.equal(broker.stats.publishDropped, 0, 'nothing dropped')
  for (let i = 0; i < 4; i++) {
    const mine = got.filter((p) => p.startsWith(`p${i}-`))
    t.same(mine, mine.slice().sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1])), `order of publisher ${i} kept`)
  }
}

const LOAD = { limits: { maxQueuedMessages: 50 } } satisfies BrokerOptions

t.test('overload, QoS 1, clean session: 0 of the acknowledged messages lost', async (t) => {
  const broker = setup(t, LOAD)
  // the queue goes beyond its bound (50) only while acks wait for room (queuePolicy 'block')
  let deepest = 0
  const sample = setInterval(() => { deepest = Math.max(deepest, broker.metrics().queuedMax) }, 1)
  t.teardown(() => { clearInterval(sample) })
  await overload(t, broker, 1, true, 400)
  clearInterval(sample)
  t.ok(deepest > LOAD.limits.maxQueuedMessages, `acks waited for room (queue reached ${deepest})`)
})

t.test('overload, QoS 1, persistent session (MemoryStore): 0 lost', async (t) => {
  const broker = setup(t, LOAD)
  await overload(t, broker, 1, false, 400)
})

t.test('overload, QoS 2: 0 lost, no duplicate', async (t) => {
  const broker = setup(t, LOAD)
  await overload(t, broker, 2, true, 300)
})

t.test('overload, QoS 2, persistent session: 0 lost, no duplicate', async (t) => {
  const broker = setup(t, LOAD)
  await overload(t, broker, 2, false, 300)
})

/** Collect acks (PUBACK, or PUBREC for QoS 2) of `c` until `n` arrived; resolves to their reason codes in order. */
async function acks (c: Client, n: number, ms = 5000): Promise<number[]> {
  const codes: number[] = []
  while (codes.length < n) {
    const p = await c.next('puback', ms)
    codes.push(p.reasonCode ?? 0)
  }
  return codes
}

t.test('a 3.1.1 publisher is not read while maxInflight of its messages wait for their ack; nothing lost once the subscriber reads', async (t) => {
  const broker = setup(t, { limits: { maxInflight: 20, maxQueuedMessages: 10 } })
  const sub = await connect(t, broker, { clientId: 'stuck' })
  await sub.subscribe('p/#', 1)
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 200; i++) pub.publish('p/x', `m${i}`, 1)
  await delay(100)
  const read = broker.stats.publishReceived
  t.ok(read < 80, `the broker stopped reading the publisher (${read} of 200 read: 20 inflight + 10 queued + 20 waiting, and what was parsed)`)
  const first = await acks(pub, 30, 1000).catch(() => null)
  t.ok(first !== null, 'acks for what fit (20 inflight + 10 queued) went out')
  t.ok(await pub.nothing(50, 'puback'), 'the others wait')
  const got = consume(sub, { every: 10, slowMs: 1, expected: 200 })
  const rest = await acks(pub, 200 - first!.length)
  t.same([...first!, ...rest].filter((rc) => rc !== 0), [], 'all 200 acknowledged with 0x00')
  t.same(await got, Array.from({ length: 200 }, (_, i) => `m${i}`), 'all 200 delivered, in order')
  t.equal(broker.stats.publishDropped, 0)
})

t.test('stall: a clean subscriber full for longer than stallTimeout gets DISCONNECT 0x97; its publishers\' acks proceed', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, limits: { maxQueuedMessages: 10, stallTimeout: 200 } })
  const sub = await connect(t, broker, { clientId: 'stuck', protocolVersion: 5, properties: { receiveMaximum: 5 } })
  await sub.subscribe('s/#', 1)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  for (let i = 0; i < 30; i++) pub.publish('s/x', `m${i}`, 1)
  const early = await acks(pub, 15)
  t.same(early.filter((rc) => rc !== 0), [], '5 inflight + 10 queued: acknowledged')
  t.ok(await pub.nothing(20, 'puback'), 'the rest wait while the subscriber is full')
  await clock.tick(199)
  t.ok(await sub.nothing(0, 'disconnect'), 'full for 199 ms: not stalled')
  t.equal(broker.stats.subscribersStalled, 0)
  await clock.tick(1)
  const d = await sub.next('disconnect')
  t.equal(d.reasonCode, 0x97, 'full for 200 ms: DISCONNECT 0x97 Quota exceeded')
  await sub.closed()
  const late = await acks(pub, 15)
  t.same(late.filter((rc) => rc !== 0), [], 'the session ended: the waiting acks go out')
  t.equal(broker.stats.subscribersStalled, 1)
  t.equal(describeSession(broker, 'stuck') !== undefined, false, 'the clean session ended')
})

t.test('stall: a persistent subscriber spills its queue to the store, ends its connection with 0x97, and gets everything on resume', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, limits: { maxQueuedMessages: 10, stallTimeout: 200 } })
  const opts = { clientId: 'spill', protocolVersion: 5 as const, clean: false, properties: { receiveMaximum: 5, sessionExpiryInterval: 300 } }
  const sub = await connect(t, broker, opts)
  await sub.subscribe('s/#', 1)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  for (let i = 0; i < 30; i++) pub.publish('s/x', `m${i}`, 1)
  await acks(pub, 15)
  await clock.tick(199)
  t.ok(await sub.nothing(0, 'disconnect'), 'full for 199 ms: not stalled')
  await clock.tick(1)
  const d = await sub.next('disconnect')
  t.equal(d.reasonCode, 0x97, 'DISCONNECT 0x97')
  await sub.closed()
  t.same((await acks(pub, 15)).filter((rc) => rc !== 0), [], 'all 30 acknowledged')
  t.equal(describeSession(broker, 'spill') !== undefined, true, 'the persistent session lives on')
  const again = await connect(t, broker, opts)
  t.equal(again.connack.sessionPresent, true, 'Session Present 1')
  const got = new Set(await consume(again, { every: 100, slowMs: 0, expected: 30, idleMs: 1000 }))
  t.equal(got.size, 30, 'all 30 delivered after the resume')
  t.equal(broker.stats.publishDropped, 0)
})

t.test("queuePolicy 'drop-oldest': the old behaviour, counted", async (t) => {
  const broker = setup(t, { queuePolicy: 'drop-oldest', limits: { maxInflight: 5, maxQueuedMessages: 10 } })
  const sub = await connect(t, broker, { clientId: 'stuck' })
  await sub.subscribe('d/#', 1)
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 50; i++) pub.publish('d/x', `m${i}`, 1)
  t.equal((await acks(pub, 50)).length, 50, 'acknowledged at once')
  t.equal(broker.stats.queueDropped, 35, '50 - 5 inflight - 10 queued dropped')
  t.equal(broker.stats.publishDropped, 35, 'counted as dropped too')
  const got = await consume(sub, { every: 100, slowMs: 0, expected: 15, idleMs: 300 })
  t.same(got, [0, 1, 2, 3, 4, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49].map((i) => `m${i}`), 'inflight kept, the newest 10 queued')
})

t.test("queuePolicy 'reject': a 5.0 publisher gets PUBACK 0x97 while a matching queue is full", async (t) => {
  const broker = setup(t, { queuePolicy: 'reject', limits: { maxQueuedMessages: 10 } })
  const sub = await connect(t, broker, { clientId: 'stuck', protocolVersion: 5, properties: { receiveMaximum: 5 } })
  await sub.subscribe('r/#', 1)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  for (let i = 0; i < 30; i++) pub.publish('r/x', `m${i}`, 1)
  const codes = await acks(pub, 30)
  t.same(codes, [...Array(16).fill(0), ...Array(14).fill(0x97)], '16 fit (the 16th filled the queue), 14 refused with 0x97')
  t.equal(broker.stats.publishRejected, 14)
  const got = await consume(sub, { every: 100, slowMs: 0, expected: 16, idleMs: 300 })
  t.same(got, Array.from({ length: 16 }, (_, i) => `m${i}`), 'the accepted ones delivered')
  const v4 = await connect(t, broker, {})
  v4.publish('r/x', 'from 3.1.1', 1)
  t.equal((await v4.next('puback')).cmd, 'puback', '3.1.1 publishers (no negative ack) are acknowledged normally when there is room')
})

t.test("queuePolicy 'reject' with QoS 2: PUBREC 0x97 frees the packet id", async (t) => {
  const broker = setup(t, { queuePolicy: 'reject', limits: { maxQueuedMessages: 1 } })
  const sub = await connect(t, broker, { clientId: 'stuck', protocolVersion: 5, properties: { receiveMaximum: 1 } })
  await sub.subscribe('r/#', 2)
  const pub = await connect(t, broker, { clientId: 'pub-r', protocolVersion: 5 })
  const ids: number[] = []
  for (let i = 0; i < 4; i++) ids.push(pub.publish('r/x', `m${i}`, 2))
  const codes: number[] = []
  for (let i = 0; i < 4; i++) codes.push((await pub.next('pubrec')).reasonCode ?? 0)
  t.same(codes, [0, 0, 0, 0x97], '1 inflight, 1 queued, 1 over the bound accepted, then refused')
  // the refused id is free again: a new message under it is routed (and refused again, the
  // queue is still full), not taken for a duplicate
  pub.send({ cmd: 'publish', topic: 'r/x', payload: Buffer.from('m3 again'), qos: 2, messageId: ids[3]!, dup: false, retain: false })
  t.equal((await pub.next('pubrec')).reasonCode ?? 0, 0x97, 'the refused QoS 2 id is forgotten: routed again')
  // an accepted one is kept until PUBREL: sent again with DUP, it is acknowledged, not routed
  pub.send({ cmd: 'publish', topic: 'r/x', payload: Buffer.from('m2'), qos: 2, messageId: ids[2]!, dup: true, retain: false })
  t.equal((await pub.next('pubrec')).reasonCode ?? 0, 0, 'an accepted one is kept until PUBREL')
})

t.test('a stuck subscriber slows only the publishers that feed it', async (t) => {
  const broker = setup(t, { limits: { maxQueuedMessages: 10 } })
  const stuck = await connect(t, broker, { clientId: 'stuck', protocolVersion: 5, properties: { receiveMaximum: 5 } })
  await stuck.subscribe('slow/#', 1)
  const fast = await connect(t, broker, { clientId: 'fast' })
  await fast.subscribe('fast/#', 1)
  const p1 = await connect(t, broker, { protocolVersion: 5 })
  for (let i = 0; i < 50; i++) p1.publish('slow/x', `s${i}`, 1)
  const p1early = await acks(p1, 15)
  t.equal(p1early.length, 15)
  const p2 = await connect(t, broker, {})
  const got = consume(fast, { every: 10, slowMs: 0, expected: 500 })
  const started = Date.now()
  const r = await produce(p2, 'f', 500, 1, 20, 'fast/x')
  t.equal(r.acked.length, 500, 'the unrelated publisher got all its acks')
  t.equal((await got).length, 500, 'the unrelated subscriber got everything')
  t.ok(Date.now() - started < 5000, `in ${Date.now() - started} ms`)
  t.ok(await p1.nothing(10, 'puback'), 'the stuck subscriber\'s publisher still waits')
})

t.test('stall: a slow subscriber that keeps reading is not stalled, however long its queue stays full', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, limits: { maxQueuedMessages: 10, stallTimeout: 100 } })
  const sub = await connect(t, broker, { clientId: 'slow', protocolVersion: 5, properties: { receiveMaximum: 5 } })
  await sub.subscribe('w/#', 1)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  const started = clock.now()
  // 99 ms between two of its acks: never 100 ms without progress, 60 × 99 ms in all
  const got = consume(sub, { every: 1, slowMs: 99, expected: 60, pause: async (ms) => { await clock.tick(ms) } })
  const r = await produce(pub, 'w', 60, 1, 50, 'w/x')
  t.equal(r.acked.length, 60, 'all acknowledged')
  t.equal((await got).length, 60, 'all delivered')
  t.ok(clock.now() - started > 3000, `the queue was full for longer than stallTimeout (${clock.now() - started} ms of clock time)`)
  t.equal(broker.stats.subscribersStalled, 0, 'not stalled')
})
