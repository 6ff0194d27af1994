/**
 * Session ownership in a cluster (ownership.ts), on two in-process nodes sharing one
 * MemoryStore (its claimSession is the atomic claim) and joined by an addressed pair bus.
 * The same behaviour on Redis, with real RedisBus nodes, is in
 * @culex/store-redis test/cluster-own.test.ts.
 */
import t, { type Test } from 'tap'
import { Broker, MemoryStore, type Bus } from '../src/index.ts'
import { FakeClock, settle } from './fake-clock.ts'
import { connect, delay, pairBus } from './helper.ts'

function nodes (t: Test, opts: { alive?: string[], store?: MemoryStore, clockB?: FakeClock } = {}): { a: Broker, b: Broker, store: MemoryStore, busA: Bus, busB: Bus } {
  const store = opts.store ?? new MemoryStore()
  const [busA, busB] = pairBus(opts.alive ?? ['a', 'b'], { addressed: true })
  const a = new Broker({ bus: busA, store, sysInterval: 0 })
  const b = new Broker({ bus: busB, store, sysInterval: 0, ...(opts.clockB !== undefined ? { clock: opts.clockB } : {}) })
  t.teardown(async () => { await a.close(); await b.close() })
  return { a, b, store, busA, busB }
}

t.test('a session moves from node a to node b: subscriptions, queue, the delayed will cancelled', async (t) => {
  const { a, b, store } = nodes(t)
  const x = await connect(t, a, {
    clientId: 'm',
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
    will: { topic: 'will/m', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 60 } }
  })
  t.equal(x.connack.sessionPresent, false)
  await x.subscribe('m/#', 1)
  t.same(await store.sessionOwner('m'), { nodeId: 'a', epoch: 1 })
  const watcher = await connect(t, b, { clientId: 'w', protocolVersion: 5 })
  await watcher.subscribe('will/#', 1)
  x.drop()
  await delay(20)
  const pub = await connect(t, b, { protocolVersion: 5 })
  pub.publish('m/1', 'queued', 1)
  await pub.next('puback')
  await delay(20)
  t.same((await store.outgoing('m', Date.now())).map((r) => r.message.topic), ['m/1'], 'queued once, by the owner (node a) from the bus')
  t.ok(await store.getWill('m'), 'the delayed will waits in the store')

  const y = await connect(t, b, { clientId: 'm', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } })
  t.equal(y.connack.reasonCode, 0)
  t.equal(y.connack.sessionPresent, true, 'Session Present 1 on node b')
  const got = await y.next('publish')
  t.equal(got.topic, 'm/1')
  y.send({ cmd: 'puback', messageId: got.messageId })
  t.same(await store.sessionOwner('m'), { nodeId: 'b', epoch: 2 })
  t.same(a.metrics().sessions, { online: 0, offline: 0 }, 'node a no longer holds it')
  t.equal(await store.getWill('m'), null, 'the will of the old connection is gone: it reconnected before the delay')
  pub.publish('m/2', 'live', 1)
  await pub.next('puback')
  const live = await y.next('publish')
  t.equal(live.topic, 'm/2', 'node b routes it now')
  y.send({ cmd: 'puback', messageId: live.messageId })
  t.ok(await y.nothing(50, 'publish'), 'once')
  t.ok(await watcher.nothing(20, 'publish'), 'no will published')
})

t.test('the older connection is closed (0x8E) when the client id connects on the other node; clean start discards the session there', async (t) => {
  const { a, b, store } = nodes(t)
  const x = await connect(t, a, { clientId: 'k', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } })
  await x.subscribe('k/#', 1)
  const y = await connect(t, b, { clientId: 'k', protocolVersion: 5, clean: true })
  t.equal(y.connack.sessionPresent, false, 'clean start: Session Present 0')
  t.equal((await x.next('disconnect')).reasonCode, 0x8E, 'the old connection: session taken over')
  await x.closed()
  t.equal(await store.getSession('k'), null, 'the stored session is deleted')
  t.same(a.metrics().sessions, { online: 0, offline: 0 }, 'node a ended it')
  t.same(await store.sessionOwner('k'), { nodeId: 'b', epoch: 2 })
})

t.test('a takeover announced with a newer epoch closes a connection of an older claim; an older one does not', async (t) => {
  const { a, busB, store } = nodes(t)
  const x = await connect(t, a, { clientId: 't', protocolVersion: 5 })
  const epoch = (await store.sessionOwner('t'))!.epoch
  await busB.send({ type: 'takeover', nodeId: 'b', clientId: 't', epoch: epoch - 1 })
  t.ok(await x.nothing(30, 'disconnect'), 'an older claim does not close it')
  await busB.send({ type: 'takeover', nodeId: 'b', clientId: 't', epoch: epoch + 1 })
  t.equal((await x.next('disconnect')).reasonCode, 0x8E)
  // a stale release (older than our claim) is answered without letting go
  const y = await connect(t, a, { clientId: 'u', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  const answers: unknown[] = []
  busB.onMessage((m) => { answers.push(m) })
  await busB.sendTo!('a', { type: 'release', nodeId: 'b', clientId: 'u', epoch: 0, discard: false })
  await delay(20)
  t.same(answers.filter((m) => (m as { type: string }).type === 'released'), [{ type: 'released', nodeId: 'a', clientId: 'u', epoch: 0 }], 'answered')
  t.ok(await y.nothing(20, 'disconnect'), 'still connected')
})

t.test('a previous owner alive that does not answer: 0x88 after the bound; a dead one is not waited for', async (t) => {
  const clock = new FakeClock()
  const store = new MemoryStore({ clock })
  const [, busB] = pairBus(['a', 'b'], { addressed: true })
  const alive = ['a', 'b']
  busB.aliveNodes = async () => [...alive]
  const b = new Broker({ bus: busB, store, sysInterval: 0, clock })
  t.teardown(() => b.close())
  await store.claimSession('s', 'a') // node a: alive, no broker behind it
  await store.claimSession('d', 'a')
  // node a's offline session, expiring in 10 s
  await store.saveSession({ clientId: 's', protocolVersion: 5, expiryInterval: 10, expiresAt: clock.now() + 10_000, subscriptions: [{ topic: 's/#', qos: 1, nl: false, rap: false, rh: 0 }] })
  const pending = connect(t, b, { clientId: 's', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  await settle()
  await clock.tick(4999)
  await clock.tick(1)
  const y = await pending
  t.equal(y.connack.reasonCode, 0x88, 'server unavailable')
  await y.closed()
  t.same(b.metrics().sessions, { online: 0, offline: 1 }, 'the claimed session stays loaded here (this node owns it now)')
  await clock.tick(5000)
  await settle()
  t.same(b.metrics().sessions, { online: 0, offline: 0 }, 'and expires when the store said')
  t.equal(await store.getSession('s'), null)
  alive.splice(0, 1) // node a is dead
  const z = await connect(t, b, { clientId: 'd', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  t.equal(z.connack.reasonCode, 0, 'accepted without waiting')
  // node a alive when asked, dead a second later: not waited for the whole bound
  alive.unshift('a')
  await store.claimSession('k', 'a')
  const late = connect(t, b, { clientId: 'k', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  await settle()
  await clock.tick(500)
  alive.splice(0, 1)
  await clock.tick(250)
  await settle()
  t.equal((await late).connack.reasonCode, 0, 'accepted once node a is found dead')
})

t.test('a node loads at start only the sessions it owns', async (t) => {
  const store = new MemoryStore()
  {
    const [busA, busB] = pairBus(['a', 'b'], { addressed: true })
    const a = new Broker({ bus: busA, store, sysInterval: 0 })
    const b = new Broker({ bus: busB, store, sysInterval: 0 })
    for (const [node, id] of [[a, 'sa'], [b, 'sb']] as const) {
      const c = await connect(t, node, { clientId: id, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } })
      await c.subscribe('r/#', 1)
      c.drop()
    }
    await delay(20)
    await a.close()
    await b.close()
  }
  await store.saveSession({ clientId: 'nobody', protocolVersion: 5, expiryInterval: 300, subscriptions: [] })
  // more than one batch of owners (256)
  for (let i = 0; i < 600; i++) {
    await store.saveSession({ clientId: `many-${i}`, protocolVersion: 5, expiryInterval: 300, subscriptions: [] })
    await store.claimSession(`many-${i}`, i % 3 === 0 ? 'a' : 'c')
  }
  const { a, b } = nodes(t, { store })
  await a.ready()
  await b.ready()
  t.same(a.metrics().sessions, { online: 0, offline: 201 }, 'node a: its own sessions only')
  t.same(b.metrics().sessions, { online: 0, offline: 1 }, 'node b: its own session only (a session never claimed is not loaded)')
  const pub = await connect(t, b, { protocolVersion: 5 })
  pub.publish('r/1', 'x', 1)
  await pub.next('puback')
  await delay(20)
  t.equal((await store.outgoing('sa', Date.now())).length, 1, 'sa queued once (by node a, from the bus)')
  t.equal((await store.outgoing('sb', Date.now())).length, 1, 'sb queued once (by node b)')
})

t.test('a failing claim or load refuses the connection with 0x88', async (t) => {
  const store = new MemoryStore()
  const [busA] = pairBus(['a', 'b'], { addressed: true })
  const a = new Broker({ bus: busA, store, sysInterval: 0 })
  t.teardown(() => a.close())
  a.on('error', () => {})
  const claim = store.claimSession.bind(store)
  store.claimSession = async () => { throw new Error('claim failed') }
  const x = await connect(t, a, { clientId: 'f', protocolVersion: 5 })
  t.equal(x.connack.reasonCode, 0x88)
  store.claimSession = claim
  const getSession = store.getSession.bind(store)
  store.getSession = async () => { throw new Error('read failed') }
  const y = await connect(t, a, { clientId: 'g', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  t.equal(y.connack.reasonCode, 0x88)
  store.getSession = getSession
  // a release that cannot be sent: the claim gives up at once
  await store.claimSession('h', 'b')
  busA.sendTo = async () => { throw new Error('bus down') }
  const z = await connect(t, a, { clientId: 'h', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  t.equal(z.connack.reasonCode, 0x88)
})

t.test('a session that ends with its connection (expiry 0) is ended on the old node before the new one starts', async (t) => {
  const { a, b, store } = nodes(t)
  const x = await connect(t, a, { clientId: 'e', protocolVersion: 5, clean: true })
  await x.subscribe('e/#', 1)
  const y = await connect(t, b, { clientId: 'e', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  t.equal(y.connack.sessionPresent, false, 'nothing to resume')
  t.equal((await x.next('disconnect')).reasonCode, 0x8E)
  t.same(a.metrics().sessions, { online: 0, offline: 0 })
  t.same((await store.getSession('e'))?.subscriptions, [], 'the new session is stored, without the old subscription')
})
