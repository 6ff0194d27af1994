import t from 'tap'
import { Broker, MemoryStore, type Bus, type BusMessage, type DeadNode, type WillRecord } from '../src/index.ts'
import { FakeClock, settle } from './fake-clock.ts'
import { connect, setup } from './helper.ts'

// The engine's side of failure detection: a bus (RedisBus in a cluster) tells the one node
// that won the claim on a dead node; that node publishes the dead node's wills on its clock.
// Two brokers share one store, as cluster nodes share Redis; the claim itself is RedisBus's
// (packages/store-redis/test/bus.test.ts, dead-node.test.ts).

/** Two nodes 'a' and 'b' joined in-process; `kill(node)` is a claim won by that node. */
function nodes (): { buses: [Bus, Bus], claim: (node: 'a' | 'b', dead: DeadNode) => void } {
  const handlers: Array<(m: BusMessage) => void> = []
  const dead: Array<(d: DeadNode) => void> = []
  const make = (nodeId: string, self: number): Bus => ({
    nodeId,
    async send (message) { setImmediate(() => handlers[1 - self]?.(message)) },
    onMessage (handler) { handlers[self] = handler },
    onNodeDead (handler) { dead[self] = handler },
    async aliveNodes () { return ['a', 'b'] },
    async close () {}
  })
  return { buses: [make('a', 0), make('b', 1)], claim: (node, d) => { dead[node === 'a' ? 0 : 1]!(d) } }
}

const will = (clientId: string, topic: string, delay?: number): WillRecord => ({
  clientId,
  nodeId: 'z',
  topic,
  payload: Buffer.from(`will of ${clientId}`),
  qos: 1,
  retain: false,
  ...(delay === undefined ? {} : { properties: { willDelayInterval: delay } })
})

const session = (clientId: string, expiryInterval: number) => ({ clientId, protocolVersion: 5 as const, expiryInterval, subscriptions: [] })

t.test('a dead node\'s wills: published by the adopting node, at once or after their delay from the death, never for a client that came back', async (t) => {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const { buses, claim } = nodes()
  const a = setup(t, { bus: buses[0], store, clock })
  const b = setup(t, { bus: buses[1], store, clock })
  const adopted: string[] = []
  a.on('nodeAdopted', (id) => adopted.push(`a:${id}`))
  b.on('nodeAdopted', (id) => adopted.push(`b:${id}`))

  // what node z left in the store when it was killed
  await store.putWill(will('now', 'will/now'))
  await store.putWill(will('clean', 'will/clean', 30)) // no stored session: expiry 0, goes at once
  await store.saveSession(session('delayed', 60))
  await store.putWill(will('delayed', 'will/delayed', 5))
  await store.saveSession(session('capped', 8))
  await store.putWill(will('capped', 'will/capped', 100)) // the session ends first [MQTT-3.1.3-9]
  await store.saveSession(session('back', 60))
  await store.putWill(will('back', 'will/back', 5))
  await store.saveSession(session('moved', 60))
  await store.putWill(will('moved', 'will/moved', 5))
  await store.putWill(will('early', 'will/early'))
  await store.putWill({ ...will('other', 'will/other'), nodeId: 'y' })

  const watch = await connect(t, b, { clientId: 'watch' })
  await watch.subscribe('will/#', 1)
  const got = (): string[] => watch.received.filter((p) => p.cmd === 'publish').map((p) => p.topic as string).sort()

  // 'early' connected again (on b, no will) before anyone adopted z
  const early = await connect(t, b, { clientId: 'early' })
  t.equal(early.connack.returnCode, 0)

  claim('a', { nodeId: 'z', downFor: 1000 }) // z died 1 s ago
  await clock.tick(0)
  t.same(adopted, ['a:z'], 'the adopting node reports it, the other does not')
  t.same(got(), ['will/clean', 'will/now'], 'wills without delay (or whose session ends with the connection) at once')
  t.equal(await store.getWill('now'), null, 'a published will leaves the store')

  // 'back' comes back on a (with no will) and 'moved' on b (with a new will) during their delay
  const back = await connect(t, a, { protocolVersion: 5, clientId: 'back', clean: false, properties: { sessionExpiryInterval: 60 } })
  t.equal(back.connack.reasonCode, 0)
  const moved = await connect(t, b, { protocolVersion: 5, clientId: 'moved', clean: false, properties: { sessionExpiryInterval: 60 }, will: { topic: 'will/moved-new', payload: Buffer.from('x'), qos: 0, retain: false } })
  t.equal(moved.connack.reasonCode, 0)

  await clock.tick(3999)
  t.same(got(), ['will/clean', 'will/now'], 'nothing more 1 ms before 5 s after the death')
  await clock.tick(1)
  t.same(got(), ['will/clean', 'will/delayed', 'will/now'], 'the delayed will at 5 s after the death, not after the claim')
  await clock.tick(2999)
  t.notOk(got().includes('will/capped'), 'the capped will waits for its session end')
  await clock.tick(1)
  t.same(got(), ['will/capped', 'will/clean', 'will/delayed', 'will/now'], 'at the session expiry (8 s)')
  await clock.tick(200_000)
  t.same(got(), ['will/capped', 'will/clean', 'will/delayed', 'will/now'], 'nothing for clients that came back, nor for another node\'s will')
  t.equal(watch.received.filter((p) => p.cmd === 'publish').length, 4, 'each once')
  t.equal((await store.getWill('moved'))?.nodeId, 'b', 'the new will of a client that moved stays')
  t.equal((await store.getWill('other'))?.nodeId, 'y', 'another node\'s will stays')
  t.equal(await store.getWill('back'), null, 'a client that came back without a will has none left')
})

t.test('a dead node claimed by the node itself is ignored; a closing broker publishes no adopted will', async (t) => {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const { buses, claim } = nodes()
  const a = setup(t, { bus: buses[0], store, clock })
  const b = setup(t, { bus: buses[1], store, clock })
  let adopted = 0
  a.on('nodeAdopted', () => adopted++)
  await store.saveSession(session('d', 60))
  claim('a', { nodeId: 'a', downFor: 0 })
  await clock.tick(0)
  t.equal(adopted, 0, 'a node never adopts itself')

  const watch = await connect(t, b, { clientId: 'watch' })
  await watch.subscribe('will/#', 1)
  await store.putWill({ ...will('d', 'will/d', 5), nodeId: 'z' })
  claim('a', { nodeId: 'z', downFor: -50 }) // a clock ahead of this node's: counted from now
  await clock.tick(0)
  t.equal(adopted, 1)
  await a.close()
  claim('a', { nodeId: 'z', downFor: 0 })
  await clock.tick(10_000)
  await settle()
  t.equal(adopted, 1, 'a closed broker adopts nothing')
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'the armed will is not published by a closed broker')
  t.equal((await store.getWill('d'))?.nodeId, 'z', 'it stays stored')
})

t.test('a store failure while adopting a dead node is reported, not thrown', async (t) => {
  const store = new MemoryStore()
  const { buses, claim } = nodes()
  const a = setup(t, { bus: buses[0], store })
  setup(t, { bus: buses[1], store })
  const errors: string[] = []
  a.on('error', (err) => errors.push(err.message))
  store.willsOfNode = async () => { throw new Error('store down') }
  claim('a', { nodeId: 'z', downFor: 0 })
  await settle()
  t.match(errors, [/dead node's wills.*store down/], 'one error event')
})

t.test('an adopted will delayed beyond the longest timer (~24.8 days) goes at its time, not earlier', async (t) => {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const { buses, claim } = nodes()
  setup(t, { bus: buses[0], store, clock })
  const b = setup(t, { bus: buses[1], store, clock })
  const watch = await connect(t, b, { clientId: 'watch' })
  await watch.subscribe('will/#', 1)
  const days30 = 30 * 86_400
  await store.saveSession(session('long', 0xFFFFFFFF))
  await store.putWill(will('long', 'will/long', days30))
  claim('a', { nodeId: 'z', downFor: 0 })
  await clock.tick(0)
  clock.advance(25 * 86_400_000) // past 2^31 - 1 ms
  await settle()
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'not after 25 days')
  clock.advance(5 * 86_400_000 - 1)
  await settle()
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'not 1 ms before 30 days')
  await clock.tick(1)
  t.equal(watch.received.find((p) => p.cmd === 'publish')?.topic, 'will/long', 'at 30 days')
})

t.test('the dead node restarting while another node adopts it: each will is published once between them (Store.takeWill)', async (t) => {
  for (let round = 0; round < 20; round++) {
    const store = new MemoryStore()
    const { buses, claim } = nodes()
    const a = new Broker({ bus: buses[0], store, sysInterval: 0 })
    const b = new Broker({ bus: buses[1], store, sysInterval: 0 })
    for (let i = 0; i < 5; i++) await store.putWill(will(`c${i}`, `will/${i}`))
    let published = 0
    const count = (m: { topic: string }): void => { if (m.topic.startsWith('will/')) published++ }
    a.on('publish', count)
    // the claim and the restart of node z in the same tick, in either order
    let z: Broker
    if (round % 2 === 0) {
      claim('a', { nodeId: 'z', downFor: 5000 })
      z = new Broker({ id: 'z', store, sysInterval: 0 })
    } else {
      z = new Broker({ id: 'z', store, sysInterval: 0 })
      claim('a', { nodeId: 'z', downFor: 5000 })
    }
    z.on('publish', count)
    await settle()
    t.equal(published, 5, `round ${round}: 5 wills, 5 publishes`)
    t.same(await store.willsOfNode('z'), [])
    await Promise.all([a.close(), b.close(), z.close()])
  }
})
