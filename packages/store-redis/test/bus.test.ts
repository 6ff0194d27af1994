import t from 'tap'
import type { BusMessage } from '@culex/broker'
import { richMessage, plain } from '@culex/store-suite'
import { RedisBus } from '../src/index.ts'
import { startRedis } from './redis-server.ts'

t.test('RedisBus: messages reach every other node, never the sender; liveness', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = new RedisBus({ url: server.url, nodeId: 'A', heartbeatMs: 100 })
  const b = new RedisBus({ url: server.url, nodeId: 'B', heartbeatMs: 100 })
  const c = new RedisBus({ url: server.url, nodeId: 'C', heartbeatMs: 100 })
  t.teardown(async () => { await Promise.all([a.close(), b.close(), c.close()]) })
  const got: Record<string, BusMessage[]> = { A: [], B: [], C: [] }
  a.onMessage((m) => got.A!.push(m))
  b.onMessage((m) => got.B!.push(m))
  c.onMessage((m) => got.C!.push(m))
  await Promise.all([a.open(), b.open(), c.open()])
  t.same((await a.aliveNodes()).sort(), ['A', 'B', 'C'], 'all alive')

  const m = richMessage('bus/topic')
  await a.send({ type: 'publish', nodeId: 'A', message: m })
  await a.send({ type: 'takeover', nodeId: 'A', clientId: 'client-1' })
  await b.send({ type: 'subscriptions', nodeId: 'B', clientId: 'client-2' })
  await c.send({ type: 'alive', nodeId: 'C', at: 123 })
  for (let i = 0; i < 50 && (got.A!.length < 2 || got.B!.length < 3 || got.C!.length < 3); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(got.A!.map((x) => x.type), ['subscriptions', 'alive'], 'A got what B and C sent, not its own')
  t.same(got.B!.map((x) => x.type), ['publish', 'takeover', 'alive'])
  const pub = got.C![0]!
  t.equal(pub.type, 'publish')
  t.same(plain(pub.type === 'publish' ? pub.message : null), plain(m), 'message byte for byte')
  t.same(got.C![1], { type: 'takeover', nodeId: 'A', clientId: 'client-1' })

  await c.close()
  t.same((await a.aliveNodes()).sort(), ['A', 'B'], 'a closed node leaves at once')
  await t.rejects(c.send({ type: 'alive', nodeId: 'C', at: 1 }), { code: 'STORE_REDIS_ERR_CLOSED' })
})

t.test('RedisBus: a node that stops beating is dead after deadAfterMs', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = new RedisBus({ url: server.url, nodeId: 'A', heartbeatMs: 50, deadAfterMs: 300 })
  t.teardown(() => a.close())
  await a.open()
  // a node that died without leaving: its last beat stays in the set
  const ghost = new RedisBus({ url: server.url, nodeId: 'ghost', heartbeatMs: 60_000 })
  await ghost.open()
  t.same((await a.aliveNodes()).sort(), ['A', 'ghost'])
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(await a.aliveNodes(), ['A'], 'ghost is dead, A keeps beating')
  await ghost.close()
})
