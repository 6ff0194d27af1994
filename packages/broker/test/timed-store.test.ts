// TimedStore: every call counted once, in the bucket its duration falls in, results and
// errors passed through; the broker installs it with storeMetrics and exposes the histograms
// in broker.metrics().
import t from 'tap'
import { MemoryStore, STORE_LATENCY_BUCKETS, STORE_OPERATIONS, TimedStore, type Store } from '../src/index.ts'
import { connect, setup } from './helper.ts'

const msg = (topic: string): { topic: string, payload: Buffer, qos: 1, retain: false } => ({ topic, payload: Buffer.from('x'), qos: 1, retain: false })

t.test('every operation is counted exactly once per call, results unchanged', async (t) => {
  const s = new TimedStore(new MemoryStore())
  t.teardown(() => s.close())
  await s.saveSession({ clientId: 'a', protocolVersion: 5, expiryInterval: 60, subscriptions: [] })
  t.same((await s.getSession('a'))?.clientId, 'a')
  await s.addSubscriptions('a', [{ topic: 'x/#', qos: 1, nl: false, rap: false, rh: 0 }])
  t.same(await s.removeSubscriptions('a', ['x/#', 'nope']), [true, false])
  const seen: string[] = []
  for await (const r of s.sessions()) seen.push(r.clientId)
  t.same(seen, ['a'], 'sessions() passes through')
  await s.setSessionExpiry('a', 1)
  t.same(await s.expireSessions(2), ['a'])
  await s.deleteSession('a')
  await s.putRetained({ ...msg('r/1'), retain: true })
  t.equal((await s.matchRetained('r/#')).length, 1)
  t.equal(await s.countRetained(), 1)
  const e1 = await s.enqueue('b', msg('q/1'))
  const e2 = await s.enqueue('b', msg('q/2'))
  await s.enqueue('b', msg('q/3'), [4], { messageId: 9, state: 'sent' })
  await s.enqueueMany([{ clientId: 'b' }, { clientId: 'c' }], msg('q/4'))
  await s.updateOutgoing('b', e1.seq, { messageId: 7, state: 'sent' })
  t.equal((await s.ackOutgoing('b', 7))?.seq, e1.seq)
  t.equal(await s.ackOutgoing('b', 8), null)
  await s.removeOutgoing('b', e2.seq)
  t.equal((await s.outgoing('b', Date.now())).length, 2)
  await s.putIncoming('b', 3)
  t.equal(await s.hasIncoming('b', 3), true)
  await s.deleteIncoming('b', 3)
  await s.putWill({ clientId: 'b', nodeId: 'n', topic: 'w', payload: Buffer.from('w'), qos: 0, retain: false })
  t.equal((await s.getWill('b'))?.topic, 'w')
  t.equal((await s.willsOfNode('n')).length, 1)
  await s.deleteWill('b')

  const expected: Record<string, number> = Object.fromEntries(STORE_OPERATIONS.map((op) => [op, 1]))
  expected.enqueue = 3
  expected.ackOutgoing = 2
  const tm = s.timings()
  t.same(Object.keys(tm.operations), [...STORE_OPERATIONS], 'every operation, in a fixed order')
  t.equal(tm.buckets, STORE_LATENCY_BUCKETS)
  for (const op of STORE_OPERATIONS) {
    const o = tm.operations[op]
    t.equal(o.count, expected[op], `${op}: count`)
    t.equal(o.counts.length, STORE_LATENCY_BUCKETS.length + 1, `${op}: one count per bucket and +Inf`)
    t.equal(o.counts.reduce((a, b) => a + b, 0), o.count, `${op}: buckets add up to the count`)
    t.ok(o.sum >= 0, `${op}: sum`)
  }
})

t.test('each observation lands in the first bucket whose bound it does not exceed (injected clock)', async (t) => {
  let now = 0
  const s = new TimedStore(new MemoryStore(), { now: () => now })
  t.teardown(() => s.close())
  // the clock moves between the call and the settlement
  const take = async (ms: number): Promise<void> => {
    const p = s.countRetained()
    now += ms
    await p
  }
  await take(0) // 0 s: first bucket
  await take(0.05) // exactly 50 µs: still the first bucket (bounds are inclusive)
  await take(0.051) // just above: second
  await take(3) // 3 ms: the 5 ms bucket
  await take(2500) // 2.5 s: the last finite bucket
  await take(9000) // 9 s: +Inf
  const o = s.timings().operations.countRetained
  const at = (bound: number): number => o.counts[STORE_LATENCY_BUCKETS.indexOf(bound)]!
  t.equal(o.count, 6)
  t.equal(at(0.00005), 2)
  t.equal(at(0.0001), 1)
  t.equal(at(0.005), 1)
  t.equal(at(2.5), 1)
  t.equal(o.counts[STORE_LATENCY_BUCKETS.length], 1, '+Inf')
  t.equal(o.counts.reduce((a, b) => a + b, 0), 6)
  t.ok(Math.abs(o.sum - (0 + 0.05 + 0.051 + 3 + 2500 + 9000) / 1000) < 1e-9, 'sum in seconds')
})

t.test('a failing call is timed too and its error passes through unchanged', async (t) => {
  const err = new Error('disk on fire')
  const inner = new MemoryStore()
  const failing: Store = Object.assign(Object.create(inner) as Store, {
    putRetained: async () => { throw err },
    // a store breaking the contract by throwing synchronously still gives a rejection
    getWill: () => { throw err }
  })
  const s = new TimedStore(failing)
  t.teardown(() => inner.close())
  await t.rejects(s.putRetained({ ...msg('r'), retain: true }), err)
  await t.rejects(s.getWill('x'), err)
  t.equal(s.timings().operations.putRetained.count, 1)
  t.equal(s.timings().operations.getWill.count, 1)
  t.equal(s.inner, failing)
})

t.test('storeMetrics: broker.store times the given store; metrics() has the histograms', async (t) => {
  const inner = new MemoryStore()
  const broker = setup(t, { store: inner, storeMetrics: true })
  t.ok(broker.store instanceof TimedStore)
  t.equal((broker.store as TimedStore).inner, inner)
  await broker.ready()
  // a persistent QoS 1 subscriber goes offline; N publishes are queued for it in the store
  const sub = await connect(t, broker, { clientId: 'off', clean: false })
  await sub.subscribe('q/#', 1)
  sub.disconnect()
  await sub.closed()
  const before = broker.metrics().storeOperations!.operations.enqueue.count
  const pub = await connect(t, broker)
  const N = 5
  for (let i = 0; i < N; i++) {
    pub.publish('q/' + i, 'x', 1)
    await pub.next('puback')
  }
  const m = broker.metrics().storeOperations!
  t.equal(m.operations.enqueue.count - before, N, 'one enqueue per message queued offline')
  t.equal(m.buckets, STORE_LATENCY_BUCKETS)
  t.equal((await broker.store.outgoing('off', Date.now())).length, N, 'what was counted is stored')
})

t.test('without storeMetrics: the given store itself, and no histograms', async (t) => {
  const inner = new MemoryStore()
  const broker = setup(t, { store: inner })
  t.equal(broker.store, inner)
  t.equal(broker.metrics().storeOperations, undefined)
  t.notOk('storeOperations' in broker.metrics(), 'no key at all')
})

t.test('takeWill (optional, not timed) is there exactly when the inner store has it', async (t) => {
  const inner = new MemoryStore()
  const timed = new TimedStore(inner)
  await timed.putWill({ clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false })
  t.equal((await timed.takeWill!('c', 'n'))?.clientId, 'c', 'forwarded')
  t.equal(await inner.getWill('c'), null, 'taken from the inner store')
  // a store without the optional method (as a third-party Store may be)
  const without = Object.create(inner, { takeWill: { value: undefined } }) as Store
  t.equal(new TimedStore(without).takeWill, undefined, 'absent when the inner store has none')
})
