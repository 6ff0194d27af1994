import t from 'tap'
import { Broker, MemoryStore, realClock, type Clock, type StoredMessage } from '../src/index.ts'
import { FakeClock } from './fake-clock.ts'
import { connect, duplexPair, setup } from './helper.ts'

const START = Date.UTC(2030, 0, 1)

t.test('fake clock: timers fire in order of due time, then of arming, each at its own time', async (t) => {
  const clock = new FakeClock()
  t.equal(clock.now(), START)
  const fired: Array<[string, number]> = []
  const at = (name: string) => (): void => { fired.push([name, clock.now() - START]) }
  clock.setTimeout(at('c'), 30)
  clock.setTimeout(at('a'), 10)
  clock.setTimeout(at('b'), 10)
  const gone = clock.setTimeout(at('gone'), 20)
  clock.clearTimeout(gone)
  clock.clearTimeout(gone) // twice: nothing
  t.equal(clock.pending, 3)
  t.equal(clock.next(), START + 10)
  clock.advance(9)
  t.same(fired, [], 'nothing due at 9 ms')
  clock.advance(1)
  t.same(fired, [['a', 10], ['b', 10]], 'due at 10 ms, in arming order')
  clock.advance(100)
  t.same(fired.at(-1), ['c', 30], 'fired at its due time, not at the end of the step')
  t.equal(clock.now(), START + 110, 'then the clock is at the end of the step')
  t.equal(clock.pending, 0)
  t.equal(clock.next(), undefined)
})

t.test('fake clock: intervals repeat until cleared; a timer armed by a timer fires in the same step if due', async (t) => {
  const clock = new FakeClock(0)
  const ticks: number[] = []
  const iv = clock.setInterval(() => {
    ticks.push(clock.now())
    if (ticks.length === 3) clock.clearInterval(iv)
  }, 100)
  let chained = -1
  clock.setTimeout(() => { clock.setTimeout(() => { chained = clock.now() }, 5) }, 50)
  clock.advance(1000)
  t.same(ticks, [100, 200, 300])
  t.equal(chained, 55)
  t.equal(iv.unref(), iv, 'unref is allowed (and does nothing)')
})

t.test('fake clock: a delay above 2^31-1 ms or below 1 ms runs after 1 ms, as with Node timers', async (t) => {
  const clock = new FakeClock(0)
  const fired: number[] = []
  clock.setTimeout(() => fired.push(clock.now()), 2 ** 31)
  clock.setTimeout(() => fired.push(clock.now()), 0)
  clock.setTimeout(() => fired.push(clock.now()), Number.NaN)
  clock.setTimeout(() => fired.push(clock.now()), 2 ** 31 - 1)
  clock.advance(1)
  t.same(fired, [1, 1, 1], 'the three out-of-range delays')
  clock.advance(2 ** 31)
  t.same(fired, [1, 1, 1, 2 ** 31 - 1], 'the longest valid delay keeps its time')
})

t.test('fake clock: tick lets promises settle before, between and after timers', async (t) => {
  const clock = new FakeClock(0)
  const seen: string[] = []
  clock.setTimeout(() => { Promise.resolve().then(() => seen.push(`then@${clock.now()}`)).catch(() => {}) }, 10)
  clock.setTimeout(() => { seen.push(`second@${clock.now()}`) }, 20)
  Promise.resolve().then(() => seen.push(`pending@${clock.now()}`)).catch(() => {})
  await clock.tick(30)
  t.same(seen, ['pending@0', 'then@10', 'second@20'])
  t.equal(clock.now(), 30)
})

t.test('the real clock: Date.now and Node timers', async (t) => {
  t.plan(5)
  const before = Date.now()
  const now = realClock.now()
  t.ok(now >= before && now <= Date.now(), 'now is Date.now')
  let cleared = false
  const dead = realClock.setTimeout(() => { cleared = true }, 1)
  realClock.clearTimeout(dead)
  await new Promise<void>((resolve) => {
    const timer = realClock.setTimeout(() => { t.pass('setTimeout fires'); resolve() }, 1)
    t.equal(typeof timer.unref, 'function', 'a Node timer (unref)')
  })
  let n = 0
  await new Promise<void>((resolve) => {
    const iv = realClock.setInterval(() => {
      if (++n === 2) {
        realClock.clearInterval(iv)
        resolve()
      }
    }, 1)
  })
  t.equal(n, 2, 'setInterval repeats until clearInterval')
  t.equal(cleared, false, 'a cleared timeout never fires')
})

t.test('broker option clock: default real, checked, and read for startedAt', async (t) => {
  const plain = setup(t)
  t.equal(plain.clock, realClock, 'the real clock by default')
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  t.equal(broker.clock, clock)
  t.equal(broker.stats.startedAt, START, 'startedAt is the clock time')
  t.throws(() => new Broker({ clock: {} as Clock }), { name: 'TypeError', message: /clock: .*now is not a function/ })
  t.throws(() => new Broker({ clock: { ...realClock, setInterval: 1 } as unknown as Clock }), { name: 'TypeError', message: /setInterval is not a function/ })
  t.throws(() => new Broker({ clock: null as unknown as Clock }), TypeError)
})

t.test('a MemoryStore created by the broker reads its clock: retained and session expiry at the exact time', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const pub = await connect(t, broker, { protocolVersion: 5, clientId: 'p', clean: false, properties: { sessionExpiryInterval: 10 } })
  pub.publish('r', 'kept', 1, true, { properties: { messageExpiryInterval: 5 } })
  await pub.next('puback')
  pub.disconnect()
  await pub.closed()
  await clock.tick(4999)
  t.equal((await broker.store.matchRetained('r')).length, 1, 'retained at 4999 ms')
  t.not(await broker.store.getSession('p'), null, 'session stored')
  await clock.tick(1)
  t.same(await broker.store.matchRetained('r'), [], 'expired at 5 s')
  await clock.tick(4999)
  t.not(await broker.store.getSession('p'), null, 'session stored at 9999 ms')
  const all: string[] = []
  for await (const s of broker.store.sessions()) all.push(s.clientId)
  t.same(all, ['p'])
  clock.advance(1) // the store's own check, before the broker's expiry timer runs
  t.equal(await broker.store.getSession('p'), null, 'expired at 10 s')
  const none: string[] = []
  for await (const s of broker.store.sessions()) none.push(s.clientId)
  t.same(none, [])
})

t.test('MemoryStore option clock', async (t) => {
  const clock = new FakeClock(1000)
  const store = new MemoryStore({ clock })
  t.teardown(() => store.close())
  const m: StoredMessage = { topic: 't', payload: Buffer.from('x'), qos: 1, retain: true, expiresAt: 1500 }
  await store.putRetained(m)
  clock.advance(499)
  t.equal((await store.matchRetained('#')).length, 1)
  clock.advance(1)
  t.equal((await store.matchRetained('#')).length, 0)
})

t.test('a connection the broker closed is destroyed 2 s later on its clock if the peer never ends it', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, limits: { connectTimeout: 100 } })
  const [server, client] = duplexPair()
  t.teardown(() => { client.destroy() })
  client.on('data', () => {})
  broker.handle(server, {})
  await clock.tick(100) // no CONNECT: closed at 100 ms
  t.equal(server.writableEnded, true, 'the broker ended its side')
  await clock.tick(1999)
  t.equal(server.destroyed, false, 'not destroyed at 1999 ms')
  await clock.tick(1)
  t.equal(server.destroyed, true, 'destroyed at 2000 ms')
})

t.test('publishRatePerSecond counts per second of the broker clock', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, limits: { publishRatePerSecond: 5 } })
  const c = await connect(t, broker, { protocolVersion: 5 })
  const five = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      c.publish('r', 'x', 1)
      await c.next('puback')
    }
  }
  await five()
  await clock.tick(1000)
  await five()
  t.equal(c.ended, false, '5 in each of two seconds: allowed')
  await clock.tick(999)
  c.publish('r', 'x', 1)
  t.equal((await c.next('disconnect')).reasonCode, 0x96, 'a 6th within 999 ms of the second window: DISCONNECT 0x96')
})

t.test('[MQTT-3.3.2-5] broker.publish: message expiry counts on the broker clock', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const opts = (clientId: string) => ({ protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 60 } })
  for (const id of ['early', 'late']) {
    const c = await connect(t, broker, opts(id))
    await c.subscribe('x', 1)
    c.disconnect()
    await c.closed()
  }
  await broker.publish({ topic: 'x', payload: 'soon gone', qos: 1, properties: { messageExpiryInterval: 2 } })
  await clock.tick(1999)
  const early = await connect(t, broker, opts('early'))
  const m = await early.next('publish')
  t.same([m.payload.toString(), m.properties.messageExpiryInterval], ['soon gone', 1], 'delivered at 1999 ms, 1 s left')
  await clock.tick(1)
  const late = await connect(t, broker, opts('late'))
  t.ok(await late.nothing(20, 'publish'), 'dropped from the queue at 2 s')
})
