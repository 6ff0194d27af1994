/**
 * `broker.subscribe` (an in-process subscriber: bridge, HTTP stream, CoAP observer) in a
 * cluster: its filter joins the node's route table, so messages published on another node
 * reach it; after removal they stop crossing. Two brokers, each with its own RedisBus, on a
 * real redis-server.
 */
import t from 'tap'
import { Broker, type StoredMessage } from '@culex/broker'
import { RedisBus, RedisStore } from '../src/index.ts'
import { until } from './cluster-helpers.ts'
import { startRedis } from './redis-server.ts'

t.test('an in-process subscriber on node B gets messages published on node A; none after it stops', { timeout: 30_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const node = async (id: string): Promise<{ broker: Broker, bus: RedisBus }> => {
    const store = new RedisStore({ url: server.url, prefix: 'local:' })
    const bus = new RedisBus({ url: server.url, nodeId: id, heartbeatMs: 100 })
    await bus.open()
    const broker = new Broker({ store, bus })
    t.teardown(async () => { await broker.close(); await bus.close(); await store.close() })
    return { broker, bus }
  }
  const a = await node('node-a')
  const b = await node('node-b')
  const got: StoredMessage[] = []
  const stop = b.broker.subscribe('sensors/+/temp', (m) => { got.push(m) }, { qos: 1 })
  t.ok(await until(() => a.bus.interested('sensors/1/temp')), 'node A learns node B\'s route')
  t.notOk(a.bus.interested('other/topic'), 'and only that route')

  await a.broker.publish({ topic: 'sensors/1/temp', payload: Buffer.from('21'), qos: 1 })
  await a.broker.publish({ topic: 'sensors/2/temp', payload: Buffer.from('22'), qos: 2 })
  t.ok(await until(() => got.length === 2), 'both messages crossed to node B')
  t.same(got.map((m) => [m.topic, m.payload.toString(), m.qos]), [['sensors/1/temp', '21', 1], ['sensors/2/temp', '22', 1]], 'in order, capped at the subscription\'s QoS')

  stop()
  stop() // idempotent: the route is removed once
  t.ok(await until(() => !a.bus.interested('sensors/1/temp')), 'the route is withdrawn')
  await a.broker.publish({ topic: 'sensors/3/temp', payload: Buffer.from('23'), qos: 1 })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(got.length, 2, 'nothing after the subscriber stopped')
})
