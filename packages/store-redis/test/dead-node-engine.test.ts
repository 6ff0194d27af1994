/**
 * The broker's dead-node hook over the real RedisBus and RedisStore, in process: three
 * brokers on one redis-server and nodes that die (one heartbeat, then nothing) leaving wills
 * in the store. For each death exactly one broker emits `nodeAdopted`, and every will reaches
 * the subscribers of every node exactly once. (The same with real processes killed by
 * SIGKILL: dead-node.test.ts.)
 */
import t from 'tap'
import { Broker, type StoredMessage } from '@culex/broker'
import { RedisBus, RedisStore } from '../src/index.ts'
import { until } from './cluster-helpers.ts'
import { startRedis } from './redis-server.ts'

t.test('five nodes die one after another: each is adopted by exactly one of three brokers, each will published once', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const quiet = { warn () {} }
  const store = new RedisStore({ url: server.url, prefix: 'dead:' })
  t.teardown(() => store.close())
  const adopted: string[] = []
  const got = new Map<string, string[]>() // will topic → the nodes whose subscriber got it
  await Promise.all(['a', 'b', 'c'].map(async (id) => {
    const bus = new RedisBus({ url: server.url, prefix: 'dead:', nodeId: id, heartbeatMs: 50, deadAfterMs: 300, logger: quiet })
    await bus.open()
    const broker = new Broker({ store: new RedisStore({ url: server.url, prefix: 'dead:' }), bus, sysInterval: 0 })
    broker.on('nodeAdopted', (node) => { adopted.push(`${id}:${node}`) })
    broker.subscribe('will/#', (m: StoredMessage) => { got.set(m.topic, [...(got.get(m.topic) ?? []), id]) }, { qos: 1 })
    t.teardown(async () => { await broker.close(); await bus.close(); await broker.store.close() })
  }))
  // every node routes will/# to the others before anyone dies
  await new Promise((resolve) => setTimeout(resolve, 300))

  for (let i = 0; i < 5; i++) {
    const ghost = new RedisBus({ url: server.url, prefix: 'dead:', nodeId: `ghost-${i}`, heartbeatMs: 60_000, logger: quiet })
    const diedAt = Date.now() // its last heartbeat is during open()
    await ghost.open() // one heartbeat: then it is as good as killed
    await store.putWill({ clientId: `c${i}`, nodeId: `ghost-${i}`, topic: `will/${i}`, payload: Buffer.from(`bye ${i}`), qos: 1, retain: false })
    await store.saveSession({ clientId: `d${i}`, protocolVersion: 5, expiryInterval: 60, subscriptions: [] })
    await store.putWill({ clientId: `d${i}`, nodeId: `ghost-${i}`, topic: `will/${i}/delayed`, payload: Buffer.from('later'), qos: 1, retain: false, properties: { willDelayInterval: 1 } })
    t.ok(await until(() => (got.get(`will/${i}/delayed`)?.length ?? 0) >= 3), `ghost-${i}: its wills arrive`)
    t.ok(Date.now() - diedAt >= 995, `the delayed will not before its 1 s delay (timers: ±1 ms) (${Date.now() - diedAt} ms)`)
    // ghost-i's bus stays open without beating (a real close would leave the node set)
    t.teardown(() => ghost.close())
  }
  await new Promise((resolve) => setTimeout(resolve, 500)) // several more claim rounds
  t.equal(adopted.length, 5, `five adoptions: ${adopted.join(', ')}`)
  t.same(adopted.map((x) => x.split(':')[1]).sort(), ['ghost-0', 'ghost-1', 'ghost-2', 'ghost-3', 'ghost-4'], 'each dead node once')
  for (let i = 0; i < 5; i++) {
    t.same(got.get(`will/${i}`)?.sort(), ['a', 'b', 'c'], `will/${i}: once on every node`)
    t.same(got.get(`will/${i}/delayed`)?.sort(), ['a', 'b', 'c'], `will/${i}/delayed: once on every node`)
  }
  t.same(await store.willsOfNode('ghost-0'), [], 'published wills leave the store')
})
