/**
 * RedisStore and RedisBus on a real Redis Cluster of 3 masters (test/redis-server.ts
 * startRedisCluster): the shared contract suite including two stores on one cluster, the
 * bus between nodes, keys spread over every node with each client's keys in one slot, the
 * retained cache following its slot to another node, bounded failures, and option errors.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { BusMessage } from '@culex/broker'
import { msg, plain, richMessage, richWill, session, storeSuite } from '@culex/store-suite'
import { RedisBus, RedisStore } from '../src/index.ts'
import { startRedis, startRedisCluster } from './redis-server.ts'
import { Redis } from 'ioredis'

const cluster = await startRedisCluster()
t.teardown(() => cluster.destroy())
const nodes = cluster.ports.map((port) => ({ host: '127.0.0.1', port }))
let n = 0

/** A plain connection to one node, closed at teardown. */
function nodeClient (t: Test, port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true })
  r.on('error', () => {})
  t.teardown(() => { r.disconnect() })
  return r
}

storeSuite(t, {
  name: 'RedisStore on a Redis Cluster',
  build: async (o) => {
    // the URL form here, the option form in buildPair
    const store = new RedisStore({ url: cluster.url, prefix: `c${n++}:`, ...o })
    await store.open()
    return { store, teardown: async () => {} }
  },
  buildPair: async (o) => {
    const prefix = `cpair${n++}:`
    const a = new RedisStore({ cluster: { nodes }, prefix, ...o })
    const b = new RedisStore({ cluster: { nodes: [`127.0.0.1:${cluster.ports[2]!}`] }, prefix, ...o })
    await Promise.all([a.open(), b.open()])
    return { a, b, teardown: async () => { await Promise.all([a.close().catch(() => {}), b.close().catch(() => {})]) } }
  },
  modelRuns: 30
})

t.test('cluster: clients spread over every node, each client\'s keys in one slot (odd ids too)', async (t) => {
  const prefix = `spread${n++}:`
  const store = new RedisStore({ url: cluster.url, prefix })
  t.teardown(() => store.close())
  // '' and '}x' would give an empty hash tag `{}`: Redis would hash whole keys, scripts would fail with CROSSSLOT
  const ids = ['', '}x', '}', 'a}b', '{a', 'x{y}z', ...Array.from({ length: 30 }, (_, i) => `client-${i}`)]
  for (const c of ids) {
    await store.saveSession(session(c, { expiryInterval: 60 }))
    await store.enqueue(c, msg(`t/${c}`))
    await store.putWill(richWill(c, 'n1'))
    await store.putIncoming(c, 3)
  }
  for (const c of ids) {
    const [r] = await store.outgoing(c, Date.now())
    await store.updateOutgoing(c, r!.seq, { messageId: 9, state: 'sent' })
    t.equal((await store.ackOutgoing(c, 9))?.message.topic, `t/${c}`, `client ${JSON.stringify(c)}: queue scripts ran`)
  }
  t.same((await store.willsOfNode('n1')).map((w) => w.clientId).sort(), [...ids].sort(), 'every will indexed')
  const perNode = await Promise.all(cluster.ports.map(async (port) => {
    const r = nodeClient(t, port)
    return (await r.keys(`${prefix}*`)).length
  }))
  t.ok(perNode.every((k) => k > 0), `keys on every node: ${perNode.join(', ')}`)
  // every key of one client hashes to the client's slot
  const r = nodeClient(t, cluster.ports[0]!)
  for (const c of ['', '}x', 'a}b', 'client-7']) {
    const keys: string[] = []
    for (const port of cluster.ports) keys.push(...await nodeClient(t, port).keys(`${prefix}{*`))
    const slots = new Set<number>()
    for (const k of keys.filter((k) => k.startsWith(`${prefix}{${c === '' || c.startsWith('}') ? '\u0000' : ''}${c}}:`))) slots.add(await r.cluster('KEYSLOT', k))
    t.equal(slots.size, 1, `client ${JSON.stringify(c)}: one slot`)
  }
  for (const c of ids) await store.deleteSession(c)
  t.equal(await store.getSession('}x'), null, 'deleted (DROP script over the client\'s keys)')
  const expiring = new RedisStore({ cluster: { nodes }, prefix })
  t.teardown(() => expiring.close())
  await expiring.saveSession(session('gone', { expiryInterval: 1, expiresAt: Date.now() - 1 }))
  t.same(await expiring.expireSessions(Date.now()), ['gone'], 'expireSessions across slots')
})

t.test('cluster: the retained cache of two stores answers as Redis does', async (t) => {
  const prefix = `ret${n++}:`
  const a = new RedisStore({ url: cluster.url, prefix })
  const b = new RedisStore({ cluster: { nodes: [nodes[1]!] }, prefix })
  const direct = new RedisStore({ url: cluster.url, prefix, cacheRetained: false })
  t.teardown(async () => { for (const s of [a, b, direct]) await s.close().catch(() => {}) })
  await Promise.all([a.open(), b.open(), direct.open()])
  const topics = ['a', 'a/b', 'a/b/c', '$SYS/x', 'b/x']
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ topic: fc.constantFrom(...topics), payload: fc.constantFrom('', 'p1', 'p2'), by: fc.constantFrom(a, b) }), { maxLength: 12 }),
    fc.constantFrom('#', 'a/#', '+/+', '$SYS/#', 'a/b/c'),
    async (writes, filter) => {
      for (const w of writes) await w.by.putRetained(msg(w.topic, w.payload, { retain: true }))
      const view = async (s: RedisStore): Promise<string> => JSON.stringify((await s.matchRetained(filter)).map((m) => [m.topic, m.payload.toString()]).sort())
      const truth = await view(direct)
      return (await view(a)) === truth && (await view(b)) === truth
    }), { numRuns: 30 })
  t.pass('30 random write sequences from two stores: both caches answered as Redis does')
})

t.test('cluster: RedisBus messages cross nodes, never back to the sender; liveness', async (t) => {
  const prefix = `bus${n++}:`
  const a = new RedisBus({ url: cluster.url, prefix, nodeId: 'A', heartbeatMs: 100 })
  const b = new RedisBus({ cluster: { nodes: [nodes[2]!] }, prefix, nodeId: 'B', heartbeatMs: 100 })
  t.teardown(async () => { await Promise.all([a.close(), b.close()]) })
  const got: Record<string, BusMessage[]> = { A: [], B: [] }
  a.onMessage((m) => got.A!.push(m))
  b.onMessage((m) => got.B!.push(m))
  b.addRoute('bus/#')
  await Promise.all([a.open(), b.open()])
  t.same((await b.aliveNodes()).sort(), ['A', 'B'], 'both alive')
  for (let i = 0; i < 100 && !a.interested('bus/topic'); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(a.interested('bus/topic'), 'A learns B\'s route')
  const m = richMessage('bus/topic')
  await a.send({ type: 'takeover', nodeId: 'A', clientId: 'client-1' })
  await a.send({ type: 'publish', nodeId: 'A', message: m })
  await Promise.all(Array.from({ length: 100 }, (_, i) => a.send({ type: 'publish', nodeId: 'A', message: msg('bus/n', String(i)) })))
  await b.send({ type: 'alive', nodeId: 'B', at: 123 })
  for (let i = 0; i < 100 && (got.A!.length < 1 || got.B!.length < 102); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(got.A, [{ type: 'alive', nodeId: 'B', at: 123 }], 'A got what B sent, not its own')
  t.same(got.B!.map((x) => x.type).slice(0, 2).sort(), ['publish', 'takeover'])
  const pubs = got.B!.filter((x) => x.type === 'publish')
  const pub = pubs[0]!
  t.same(plain(pub.type === 'publish' ? pub.message : null), plain(m), 'message byte for byte')
  t.same(pubs.slice(1).map((x) => x.type === 'publish' ? x.message.payload.toString() : ''), Array.from({ length: 100 }, (_, i) => String(i)), 'a batch crosses in order')
  t.equal(b.stats.replays + b.stats.gaps + b.stats.corrupt, 0)
  await b.close()
  t.same(await a.aliveNodes(), ['A'], 'a closed node leaves at once')
})

t.test('cluster: a dead node is claimed by one live node (the claim script runs on the node set\'s slot)', async (t) => {
  const prefix = `dead${n++}:`
  const ghost = new RedisBus({ url: cluster.url, prefix, nodeId: 'ghost', heartbeatMs: 60_000 })
  t.teardown(() => ghost.close())
  await ghost.open() // one beat, then none: as if killed
  const claims: string[] = []
  const live = ['A', 'B'].map((id) => {
    const bus = new RedisBus({ cluster: { nodes: [nodes[id === 'A' ? 0 : 2]!] }, prefix, nodeId: id, heartbeatMs: 50, deadAfterMs: 300, logger: { warn () {} } })
    bus.onNodeDead((d) => claims.push(`${id}:${d.nodeId}`))
    return bus
  })
  t.teardown(async () => { await Promise.all(live.map((b) => b.close())) })
  await Promise.all(live.map((b) => b.open()))
  for (let i = 0; i < 150 && claims.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(claims.length, 1, `claimed once: ${claims.join(', ')}`)
  t.match(claims[0], /^[AB]:ghost$/)
  t.same((await live[0]!.aliveNodes()).sort(), ['A', 'B'])
})

t.test('cluster: option errors name the option', async (t) => {
  const bad = ['redis+cluster://', 'redis+cluster://h:0', 'redis+cluster://h:1,h:99999', 'redis+cluster://u:secret@h:1/2', 'redis+cluster://h:1?x=1', 'redis+cluster://u:%zz@h:1']
  for (const url of bad) {
    t.throws(() => new RedisStore({ url }), { code: 'STORE_REDIS_ERR_OPTIONS' }, url)
    t.throws(() => new RedisBus({ url }), { code: 'STORE_REDIS_ERR_OPTIONS' }, `bus ${url}`)
  }
  const err = ((): unknown => { try { return new RedisStore({ url: 'redis+cluster://u:secret@h:1/2' }) } catch (e) { return e } })()
  t.notMatch((err as Error).message, /secret/, 'the password is not in the message')
  t.throws(() => new RedisStore({ url: cluster.url, cluster: { nodes } }), { code: 'STORE_REDIS_ERR_OPTIONS' }, 'cluster URL and cluster option')
  t.throws(() => new RedisStore({ url: 'redis://h:1', cluster: { nodes } }), { code: 'STORE_REDIS_ERR_OPTIONS' }, 'url and cluster option')
  t.throws(() => new RedisStore({ cluster: { nodes: [] } }), { code: 'STORE_REDIS_ERR_OPTIONS' }, 'no nodes')
  t.throws(() => new RedisStore({ cluster: { nodes: [{ host: 'h' } as unknown as { host: string, port: number }] } }), { code: 'STORE_REDIS_ERR_OPTIONS' }, 'node without port')
  t.throws(() => new RedisStore({ cluster: { nodes }, prefix: 'a{b}:' }), { code: 'STORE_REDIS_ERR_OPTIONS' }, 'a brace in the prefix')
  const ok = new RedisStore({ url: 'rediss+cluster://user:p%40ss@[::1]:7000,host' })
  await ok.close()
  t.pass('user, percent-encoded password, IPv6 and default port accepted')
})

t.test('cluster: nothing listening: open fails with STORE_REDIS_ERR_UNAVAILABLE, never hangs', async (t) => {
  const gone = await startRedis()
  const port = gone.port
  await gone.destroy()
  const store = new RedisStore({ url: `redis+cluster://127.0.0.1:${port}`, commandTimeout: 500 })
  t.teardown(() => store.close().catch(() => {}))
  const started = Date.now()
  await t.rejects(store.getSession('x'), { code: 'STORE_REDIS_ERR_UNAVAILABLE' })
  t.ok(Date.now() - started < 5000, 'bounded')
})

// Last: these change the cluster (a slot moves, a node stops).
t.test('cluster: the retained slot moves to another node; the cache follows; a stopped node fails operations in bounded time', async (t) => {
  const prefix = `move${n++}:`
  const a = new RedisStore({ url: cluster.url, prefix, commandTimeout: 1000 })
  const b = new RedisStore({ url: cluster.url, prefix, commandTimeout: 1000 })
  t.teardown(async () => { for (const s of [a, b]) await s.close().catch(() => {}) })
  await a.putRetained(msg('m/1', 'one', { retain: true }))
  t.same((await b.matchRetained('m/#')).map((m) => m.topic), ['m/1'])

  const ctl = cluster.ports.map((port) => nodeClient(t, port))
  const key = `${prefix}{retained}:m`
  const slot = await ctl[0]!.cluster('KEYSLOT', key)
  const ids = await Promise.all(ctl.map(async (r) => await r.cluster('MYID') as string))
  const owners = await Promise.all(ctl.map(async (r) => (await r.cluster('COUNTKEYSINSLOT', slot)) > 0))
  const from = owners.indexOf(true)
  const to = (from + 1) % 3
  t.ok(from >= 0, `slot ${slot} is on node ${from}`)
  const channel = `${prefix}retained`
  const subscribers = async (i: number): Promise<number> => Number((await ctl[i]!.pubsub('NUMSUB', channel))[1])
  t.equal(await subscribers(from), 2, 'both caches subscribe on the node of the retained slot')
  // move the slot as redis-cli --cluster reshard does
  await ctl[to]!.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[from]!)
  await ctl[from]!.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[to]!)
  for (;;) {
    const keys = await ctl[from]!.call('CLUSTER', 'GETKEYSINSLOT', slot, 100) as string[]
    if (keys.length === 0) break
    await ctl[from]!.call('MIGRATE', '127.0.0.1', cluster.ports[to]!, '', 0, 5000, 'KEYS', ...keys)
  }
  for (const r of ctl) await r.call('CLUSTER', 'SETSLOT', slot, 'NODE', ids[to]!)

  // the first write after the move meets MOVED; ioredis then refreshes its slot map
  await a.putRetained(msg('m/2', 'two', { retain: true }))
  let got: string[] = []
  for (let i = 0; i < 50; i++) {
    await b.putRetained(msg(`m/b${i}`, 'b', { retain: true }))
    got = (await a.matchRetained('m/#')).map((m) => m.topic).sort()
    if (got.length === i + 3) break
  }
  t.same(got.slice(0, 2), ['m/1', 'm/2'], 'every write before and after the move is in the answer')
  t.equal(got.length, (await a.countRetained()), 'as many as Redis holds')
  // once the subscriber has moved, a completed write by the other store is seen at once
  await b.matchRetained('m/#')
  for (let i = 0; i < 50 && (await subscribers(to)) < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same([await subscribers(to), await subscribers(from)], [2, 0], 'both subscribers moved to the new node')
  for (let i = 0; i < 20; i++) {
    await b.putRetained(msg(`m/after${i}`, 'x', { retain: true }))
    t.ok((await a.matchRetained('m/#')).some((m) => m.topic === `m/after${i}`), `write ${i} after the move seen by the other store`)
  }

  // a master stops (no replica): operations on its slots fail within the command timeout
  const victim = cluster.servers[to]!
  await victim.stop()
  const started = Date.now()
  await t.rejects(a.matchRetained('m/1'), { code: 'STORE_REDIS_ERR_UNAVAILABLE' }, 'the retained slot is gone')
  t.ok(Date.now() - started < 4000, `bounded (${Date.now() - started} ms)`)
})
