/**
 * The outbound window (limits.maxInflightOut) and how acknowledgements held for a full queue
 * go out again: each message's acknowledgement waits until that message is within the queue's
 * bound, not until the whole queue is.
 */
import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { Broker } from '../src/index.ts'
import { connect, delay, setup, type AnyPacket, type TestClient } from './helper.ts'

/** Waits until `c` has received `n` PUBLISH (not taken from `received`); resolves to the count, which may be higher. */
async function publishes (c: TestClient, n: number, ms = 3000): Promise<number> {
  const deadline = Date.now() + ms
  for (;;) {
    const k = c.received.filter((p) => p.cmd === 'publish').length
    if (k >= n || Date.now() > deadline) return k
    await delay(5)
  }
}

/** Count of packets of `cmd` received by `c` so far, after `ms` of quiet for stragglers. */
async function settledCount (c: TestClient, cmd: string, ms = 50): Promise<number> {
  await delay(ms)
  return c.received.filter((p) => p.cmd === cmd).length
}

t.test('a 3.1.1 subscriber gets up to limits.maxInflightOut (default 1000) unacknowledged; the rest wait in its queue', async (t) => {
  const broker = setup(t)
  t.equal(broker.limits.maxInflightOut, 1000, 'default window')
  t.equal(broker.limits.maxInflight, 100, 'the inbound limit is unchanged')
  const sub = await connect(t, broker, {})
  await sub.subscribe('w/#', 1)
  for (let i = 0; i < 1100; i++) await broker.publish({ topic: 'w/a', payload: String(i), qos: 1 })
  t.equal(await publishes(sub, 1000), 1000, '1000 sent without any acknowledgement')
  t.equal(await settledCount(sub, 'publish', 100), 1000, 'not one more: the rest are queued')
  const first = sub.received.filter((p: AnyPacket) => p.cmd === 'publish').slice(0, 5)
  for (const p of first) sub.send({ cmd: 'puback', messageId: p.messageId })
  t.equal(await publishes(sub, 1005), 1005, 'each acknowledgement lets one queued message go')
  const all = sub.received.filter((p: AnyPacket) => p.cmd === 'publish').map((p) => p.payload.toString())
  t.same(all.slice(0, 1005), Array.from({ length: 1005 }, (_v, i) => String(i)), 'in order')
})

t.test('maxInflight alone still sets both directions; maxInflightOut and Receive Maximum lower the outbound window', async (t) => {
  t.equal(new Broker({ limits: { maxInflight: 10 } }).limits.maxInflightOut, 10, 'maxInflight alone: the outbound window follows it')
  t.equal(new Broker({ limits: { maxInflight: 10, maxInflightOut: 300 } }).limits.maxInflightOut, 300, 'both set: each its own')
  t.throws(() => new Broker({ limits: { maxInflightOut: 0 } }), /limits\.maxInflightOut: expected 1\.\.65535, got 0/)
  t.throws(() => new Broker({ limits: { maxInflightOut: 70000 } }), /limits\.maxInflightOut/)
  for (const [opts, rm, want] of [[{ maxInflightOut: 5 }, undefined, 5], [{}, 7, 7], [{ maxInflight: 3 }, undefined, 3]] as const) {
    const broker = setup(t, { limits: opts })
    const sub = await connect(t, broker, rm === undefined ? {} : { protocolVersion: 5, properties: { receiveMaximum: rm } })
    await sub.subscribe('w/#', 1)
    for (let i = 0; i < want + 10; i++) await broker.publish({ topic: 'w/a', payload: String(i), qos: 1 })
    await publishes(sub, want)
    t.equal(await settledCount(sub, 'publish', 100), want, `${JSON.stringify(opts)} receiveMaximum ${String(rm)}: window ${want}`)
  }
})

t.test('a full queue acknowledges each held message once it is within the bound, not once the whole queue is', async (t) => {
  // window 1, bound 10: of 51 messages, 1 goes out, 10 are queued within the bound (acked at
  // once) and 40 beyond it wait, in groups of 16 ([12..27], [28..43], [44..51])
  const broker = setup(t, { limits: { maxInflightOut: 1, maxQueuedMessages: 10 } })
  const sub = await connect(t, broker, {})
  await sub.subscribe('q/#', 1)
  const pub = await connect(t, broker, {})
  for (let i = 1; i <= 51; i++) pub.publish('q/a', String(i), 1)
  await publishes(sub, 1)
  t.equal(await settledCount(pub, 'puback', 100), 11, 'the one sent and the 10 within the bound are acknowledged')
  // 16 deliveries taken: message 27 (the end of the first held group) is now 10th in the queue
  for (let k = 0; k < 16; k++) {
    const p = await sub.next('publish')
    t.equal(p.payload.toString(), String(k + 1), `delivery ${k + 1} in order`)
    sub.send({ cmd: 'puback', messageId: p.messageId })
  }
  await sub.next('publish') // the 17th is out: the queue moved on
  t.equal(await settledCount(pub, 'puback'), 27, 'the first held group is acknowledged while the queue is still beyond its bound')
  t.ok(broker.stats.publishDropped === 0, 'nothing dropped')
})

t.test('the held acknowledgements of a full queue go out when its subscriber goes away', async (t) => {
  const broker = setup(t, { limits: { maxInflightOut: 1, maxQueuedMessages: 2 } })
  const sub = await connect(t, broker, {})
  await sub.subscribe('q/#', 1)
  const pub = await connect(t, broker, {})
  for (let i = 1; i <= 40; i++) pub.publish('q/a', String(i), 1)
  await publishes(sub, 1)
  t.equal(await settledCount(pub, 'puback', 100), 3, 'three acknowledged, the rest held')
  sub.drop()
  let n = 3
  while (n < 40) {
    await pub.next('puback')
    n++
  }
  t.equal(n, 40, 'all acknowledged once the clean session ended')
})

t.test('only the first maxInflight deliveries in flight keep a view of the publisher\'s chunk; the others are copies', async (t) => {
  // deliveries to a connected session kept in memory only (persistInflight false): what the
  // store gets when the subscriber goes away is what the deliveries in flight held then
  const broker = setup(t, { persistInflight: false, limits: { maxInflight: 2, maxInflightOut: 10 } })
  const sub = await connect(t, broker, { clientId: 'views', clean: false })
  await sub.subscribe('p/#', 1)
  const pub = await connect(t, broker, {})
  // five PUBLISH in one chunk, written by reference: the broker parses views of it
  const raw = Buffer.concat([1, 2, 3, 4, 5].map((i) => mqttPacket.generate({ cmd: 'publish', topic: 'p/a', payload: Buffer.from(`m${i}`), qos: 1, messageId: i, dup: false, retain: false }, { protocolVersion: 4 })))
  pub.stream.write(raw)
  t.equal(await publishes(sub, 5), 5, 'all five sent (window 10)')
  raw.fill(0x7a) // what still points into the chunk now reads 'zz'
  sub.drop()
  let held: string[] = []
  for (let i = 0; i < 100 && held.length < 5; i++) {
    await delay(5)
    held = (await broker.store.outgoing('views', broker.clock.now())).map((r) => r.message.payload.toString())
  }
  t.same(held, ['zz', 'zz', 'm3', 'm4', 'm5'], 'the first two are views, the rest own their bytes')
})
