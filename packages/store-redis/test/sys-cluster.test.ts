/**
 * `$SYS` per node on a real cluster: two brokers sharing one RedisStore, each with its own
 * RedisBus (route table, streams) on a real redis-server; an MQTT.js client on one node
 * subscribed to `$SYS/#` sees both nodes' values under their own ids, and the totals; the
 * shared retained store holds the totals only, never per-node values.
 */
import { createServer, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { Broker } from '@culex/broker'
import { RedisBus, RedisStore } from '../src/index.ts'
import { until } from './cluster-helpers.ts'
import { startRedis } from './redis-server.ts'

async function listen (t: Test, broker: Broker): Promise<number> {
  const server = createServer((socket) => { broker.handle(socket) })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => { resolve() }) }))
  return (server.address() as AddressInfo).port
}

t.test('$SYS on two nodes over RedisBus: per node under its id, not retained; totals from the lowest id', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const node = async (id: string): Promise<{ broker: Broker, port: number, store: RedisStore }> => {
    const store = new RedisStore({ url: server.url, prefix: 'sys:' })
    const bus = new RedisBus({ url: server.url, nodeId: id, heartbeatMs: 100 })
    await bus.open()
    const broker = new Broker({ store, bus, sysInterval: 0.1 })
    t.teardown(async () => { await broker.close(); await bus.close(); await store.close() })
    return { broker, port: await listen(t, broker), store }
  }
  const a = await node('node-a')
  const b = await node('node-b')
  const onA = await Promise.all([0, 1].map(() => mqtt.connectAsync(`mqtt://127.0.0.1:${a.port}`, { reconnectPeriod: 0 })))
  const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { reconnectPeriod: 0 })
  t.teardown(() => { for (const c of [...onA, reader]) c.end(true) })
  const seen = new Map<string, string>()
  reader.on('message', (topic, payload) => { seen.set(topic, payload.toString()) })
  await reader.subscribeAsync('$SYS/#', { qos: 0 })

  t.ok(await until(() => seen.get('$SYS/broker/nodes/node-a/clients/connected') === '2' &&
    seen.get('$SYS/broker/nodes/node-b/clients/connected') === '1' &&
    seen.get('$SYS/broker/cluster/clients/connected') === '3'), 'each node under its own id, and the sum')
  t.equal(seen.get('$SYS/broker/cluster/nodes'), '2')
  t.match(seen.get('$SYS/broker/nodes/node-a/uptime'), /^\d+ seconds$/)
  t.notOk([...seen.keys()].some((topic) => topic.startsWith('$SYS/broker/clients/')), 'nothing written to the single-node names')
  t.same(await a.store.matchRetained('$SYS/broker/nodes/#'), [], 'no per-node value in the shared retained store')
  const totals = await a.store.matchRetained('$SYS/broker/cluster/clients/connected')
  t.equal(totals.length, 1, 'the totals are retained')
})
