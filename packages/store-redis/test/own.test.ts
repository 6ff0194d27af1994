import t from 'tap'
import fc from 'fast-check'
import { msg, session } from '@culex/store-suite'
import { RedisStore, isRedisStoreError } from '../src/index.ts'
import { startRedis } from './redis-server.ts'

t.test('Redis restarted mid-test: operations fail with a clear error in bounded time, then the store reconnects', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const store = new RedisStore({ url: server.url, commandTimeout: 1000 })
  t.teardown(() => store.close().catch(() => {}))
  await store.saveSession(session('c'))
  await store.enqueue('c', msg('before'))

  await server.stop()
  const started = Date.now()
  const err = await store.enqueue('c', msg('during')).then(() => null, (e: unknown) => e)
  const took = Date.now() - started
  t.ok(isRedisStoreError(err), 'a RedisStoreError')
  t.equal((err as { code: string }).code, 'STORE_REDIS_ERR_UNAVAILABLE')
  t.match((err as Error).message, /enqueue at 127\.0\.0\.1:\d+ failed/, 'names the operation and the server')
  t.ok(took < 3000, `failed within the command timeout (${took} ms)`)
  await t.rejects(store.getSession('c'), { code: 'STORE_REDIS_ERR_UNAVAILABLE' }, 'reads fail too')

  await server.start()
  let ok = false
  for (let i = 0; i < 50 && !ok; i++) {
    ok = await store.getSession('c').then((s) => s !== null, () => false)
    if (!ok) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.ok(ok, 'reconnected and the session survived the restart (append-only file)')
  const list = await store.outgoing('c', Date.now())
  t.same(list.map((r) => r.message.topic).filter((x) => x === 'before'), ['before'], 'acknowledged data survived')
  const r = await store.enqueue('c', msg('after'))
  t.ok(r.seq > list[0]!.seq, 'writes work again')
})

t.test('no server: open fails with STORE_REDIS_ERR_UNAVAILABLE, never hangs', async (t) => {
  const server = await startRedis()
  const url = server.url
  await server.destroy()
  const store = new RedisStore({ url, commandTimeout: 500 })
  t.teardown(() => store.close().catch(() => {}))
  const started = Date.now()
  await t.rejects(store.getSession('x'), { code: 'STORE_REDIS_ERR_UNAVAILABLE' })
  t.ok(Date.now() - started < 5000, 'bounded')
})

t.test('password: AUTH through the password option and through the URL', async (t) => {
  const server = await startRedis(['--requirepass', 's3cret'])
  t.teardown(() => server.destroy())
  const denied = new RedisStore({ url: server.url, commandTimeout: 1000 })
  t.teardown(() => denied.close().catch(() => {}))
  const err = await denied.putIncoming('c', 1).then(() => null, (e: unknown) => e)
  t.equal((err as { code?: string } | null)?.code, 'STORE_REDIS_ERR_UNAVAILABLE', 'without the password: refused')
  const a = new RedisStore({ url: server.url, password: 's3cret' })
  t.teardown(() => a.close())
  await a.putIncoming('c', 1)
  const b = new RedisStore({ url: `redis://:s3cret@127.0.0.1:${server.port}` })
  t.teardown(() => b.close())
  t.equal(await b.hasIncoming('c', 1), true, 'both authenticated on the same data')
})

t.test('retained match walks only the literal prefix range and keeps MQTT semantics', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const store = new RedisStore({ url: server.url })
  t.teardown(() => store.close())
  for (const topic of ['a', 'a/b', 'ab', 'ab/c', 'a/b/c', '$a/b', 'b/\u00ff', 'b/\u{1F600}']) await store.putRetained(msg(topic, topic, { retain: true }))
  const match = async (f: string): Promise<string[]> => (await store.matchRetained(f)).map((m) => m.topic).sort()
  t.same(await match('a/#'), ['a', 'a/b', 'a/b/c'], 'a/# does not take ab')
  t.same(await match('a/+'), ['a/b'])
  t.same(await match('+/b'), ['a/b'], '$a/b is not matched by a leading wildcard')
  t.same(await match('$a/+'), ['$a/b'])
  t.same(await match('b/+'), ['b/\u00ff', 'b/\u{1F600}'], 'multi-byte UTF-8 inside the range')
})

t.test('close twice rejects; close before open does not hang', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const never = new RedisStore({ url: server.url })
  await never.close()
  await t.rejects(never.close(), { code: 'STORE_REDIS_ERR_CLOSED' })
})

t.test('takeWill: only the owner node takes a will, and of two stores taking the same wills each is taken once', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = new RedisStore({ url: server.url })
  const b = new RedisStore({ url: server.url })
  t.teardown(async () => { await a.close(); await b.close() })
  const will = (clientId: string, nodeId = 'dead') => ({ clientId, nodeId, topic: `will/${clientId}`, payload: Buffer.from([0, 1, 2]), qos: 1 as const, retain: false })
  await a.putWill(will('x', 'other'))
  t.equal(await a.takeWill('x', 'dead'), null, 'not when another node owns it')
  t.equal((await b.getWill('x'))?.nodeId, 'other', 'which stays')
  t.equal(await a.takeWill('none', 'dead'), null, 'no will: null')
  const n = 200
  for (let i = 0; i < n; i++) await a.putWill(will(`c${i}`))
  // a survivor and the restarted node race for the same wills
  const [fromA, fromB] = await Promise.all([
    Promise.all(Array.from({ length: n }, async (_, i) => await a.takeWill(`c${i}`, 'dead'))),
    Promise.all(Array.from({ length: n }, async (_, i) => await b.takeWill(`c${n - 1 - i}`, 'dead'))) // from the other end: they meet
  ])
  const taken = [...fromA, ...fromB].filter((w) => w !== null)
  t.equal(taken.length, n, `each of ${n} wills taken exactly once (${fromA.filter((w) => w !== null).length} by one store, ${fromB.filter((w) => w !== null).length} by the other)`)
  t.same(new Set(taken.map((w) => w.clientId)).size, n)
  t.same(taken[0]!.payload, Buffer.from([0, 1, 2]), 'the will itself')
  t.same(await a.willsOfNode('dead'), [], 'none left, nor in the node index')
  // a will replaced between the read and the delete is not taken
  await a.putWill(will('y'))
  const race = a.takeWill('y', 'dead')
  await b.putWill({ ...will('y'), topic: 'will/new' })
  const got = await race
  t.ok(got === null || got.topic === 'will/y', 'either the old will was taken before the new one was written, or nothing')
})

t.test('queue operations issued in one tick are batched per client, in order, across batch limits', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const store = new RedisStore({ url: server.url })
  t.teardown(() => store.close().catch(() => {}))
  // not yet connected: the first operations wait for the connection, then batch
  const first = await Promise.all(Array.from({ length: 10 }, async (_, i) => await store.enqueue('a', msg(`a/${i}`))))
  t.same(first.map((r) => r.seq), first.map((_, i) => first[0]!.seq + i), 'seqs in issue order before the connection')
  // 600 enqueues for one client and 600 for another in one tick: more than one OPS call each
  const pa: Array<Promise<{ seq: number }>> = []
  const pb: Array<Promise<{ seq: number }>> = []
  for (let i = 0; i < 600; i++) {
    pa.push(store.enqueue('a', msg(`a/${10 + i}`)))
    pb.push(store.enqueue('b', msg(`b/${i}`)))
  }
  // a read issued in the same tick sees every write issued before it
  const seen = store.outgoing('a', Date.now())
  const [ra, rb] = [await Promise.all(pa), await Promise.all(pb)]
  t.ok(ra.every((r, i) => i === 0 || r.seq > ra[i - 1]!.seq), 'client a: increasing seqs')
  t.ok(rb.every((r, i) => i === 0 || r.seq > rb[i - 1]!.seq), 'client b: increasing seqs')
  const list = await seen
  t.equal(list.length, 610, 'the read issued after the writes saw all of them')
  t.same(list.map((r) => r.message.topic), Array.from({ length: 610 }, (_, i) => `a/${i}`), 'in order')
  // update, remove and enqueue mixed in one tick keep their order
  const u = store.updateOutgoing('a', list[0]!.seq, { messageId: 1, state: 'sent' })
  const r = store.removeOutgoing('a', list[1]!.seq)
  const e = store.enqueue('a', msg('a/last'))
  const ack = store.ackOutgoing('a', 1)
  await Promise.all([u, r, e])
  t.equal((await ack)?.message.topic, 'a/0', 'the ack issued after the update found the sent record')
  const after = await store.outgoing('a', Date.now())
  t.same([after.length, after[0]!.message.topic, after[after.length - 1]!.message.topic], [609, 'a/2', 'a/last'])
})

t.test('a failed batch rejects every operation in it, each naming itself', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const store = new RedisStore({ url: server.url, commandTimeout: 1000 })
  t.teardown(() => store.close().catch(() => {}))
  await store.enqueue('c', msg('first'))
  await server.stop()
  const results = await Promise.allSettled([store.enqueue('c', msg('x')), store.removeOutgoing('c', 1)])
  t.same(results.map((x) => x.status), ['rejected', 'rejected'])
  const messages = results.map((x) => String((x as PromiseRejectedResult).reason.message))
  t.match(messages[0], /RedisStore: enqueue \(batched with 1 other queue operations of client "c"\) at 127\.0\.0\.1:\d+ failed/)
  t.match(messages[1], /RedisStore: removeOutgoing \(batched with 1 other/)
})

t.test('property: queue operations batched in one tick end in the same state as applied one by one', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const store = new RedisStore({ url: server.url, maxQueuedMessages: 6 })
  t.teardown(() => store.close().catch(() => {}))
  type Op = { k: 'e', topic: string } | { k: 'u', seq: number, id: number, st: 'sent' | 'pubrel' } | { k: 'r', seq: number }
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('e' as const), topic: fc.constantFrom('t/1', 't/2', 't/3') }),
    fc.record({ k: fc.constant('u' as const), seq: fc.integer({ min: 1, max: 12 }), id: fc.integer({ min: 1, max: 4 }), st: fc.constantFrom('sent' as const, 'pubrel' as const) }),
    fc.record({ k: fc.constant('r' as const), seq: fc.integer({ min: 1, max: 12 }) })
  )
  const apply = (c: string, o: Op): Promise<unknown> =>
    o.k === 'e' ? store.enqueue(c, msg(o.topic)) : o.k === 'u' ? store.updateOutgoing(c, o.seq, { messageId: o.id, state: o.st }) : store.removeOutgoing(c, o.seq)
  const view = async (c: string): Promise<unknown> => (await store.outgoing(c, Date.now())).map((r) => [r.seq, r.state, r.messageId ?? null, r.message.topic])
  let run = 0
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
    const a = `batched-${run}`
    const b = `serial-${run++}`
    for (const c of [a, b]) for (let i = 0; i < 4; i++) await store.enqueue(c, msg(`pre/${i}`))
    const batched = Promise.all(ops.map((o) => apply(a, o)))
    for (const o of ops) await apply(b, o)
    await batched
    const [va, vb] = [await view(a), await view(b)]
    // the packet id index agrees too: acking every id finds the same records
    const acks = async (c: string): Promise<unknown> => { const r = []; for (let id = 1; id <= 4; id++) r.push((await store.ackOutgoing(c, id))?.seq ?? null); return r }
    return JSON.stringify(va) === JSON.stringify(vb) && JSON.stringify(await acks(a)) === JSON.stringify(await acks(b))
  }), { numRuns: 60 })
  t.pass('60 random batches matched the one-by-one result, including drops beyond the bound')
})

t.test('retained cache: another store\'s completed writes are visible at once; same answers as reading Redis', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = new RedisStore({ url: server.url })
  const b = new RedisStore({ url: server.url })
  const direct = new RedisStore({ url: server.url, cacheRetained: false })
  t.teardown(async () => { for (const s of [a, b, direct]) await s.close().catch(() => {}) })
  await a.putRetained(msg('before/open', 'x', { retain: true }))
  for (const s of [b, direct]) await s.open()
  t.same((await b.matchRetained('before/#')).map((m) => m.topic), ['before/open'], 'loaded at open')
  const topics = ['a', 'a/b', 'a/b/c', '$SYS/x', 'b/x', 'a/x']
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ topic: fc.constantFrom(...topics), payload: fc.constantFrom('', 'p1', 'p2'), by: fc.constantFrom(a, b) }), { maxLength: 20 }),
    fc.constantFrom('#', 'a/#', 'a/+', '+/+', '$SYS/#', 'a/b/c', '+'),
    async (writes, filter) => {
      for (const w of writes) await w.by.putRetained(msg(w.topic, w.payload, { retain: true }))
      const view = async (s: RedisStore): Promise<string> => JSON.stringify((await s.matchRetained(filter)).map((m) => [m.topic, m.payload.toString()]).sort())
      const truth = await view(direct)
      return (await view(a)) === truth && (await view(b)) === truth
    }), { numRuns: 80 })
  t.pass('80 random write sequences from two stores: both caches answered as Redis does')
})

t.test('retained cache: reloaded after Redis restarts; expired messages leave Redis too', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = new RedisStore({ url: server.url, commandTimeout: 1000 })
  t.teardown(() => a.close().catch(() => {}))
  await a.putRetained(msg('r/keep', 'k', { retain: true }))
  const shortUntil = Date.now() + 2000
  await a.putRetained(msg('r/short', 's', { retain: true, expiresAt: shortUntil }))
  await server.stop()
  await server.start()
  // written by another store while a's subscriber may still be reconnecting
  const other = new RedisStore({ url: server.url })
  t.teardown(() => other.close().catch(() => {}))
  await other.putRetained(msg('r/new', 'n', { retain: true }))
  let got: string[] = []
  for (let i = 0; i < 50; i++) {
    got = await a.matchRetained('r/#').then((l) => l.map((m) => m.topic).sort(), () => [])
    if (got.length === 3) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.same(got, ['r/keep', 'r/new', 'r/short'], 'everything after the restart, including the write made meanwhile')
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, shortUntil - Date.now()) + 50))
  t.same((await a.matchRetained('r/#')).map((m) => m.topic).sort(), ['r/keep', 'r/new'], 'the expired one is not returned')
  t.equal(await other.countRetained(), 2, 'and was deleted from Redis')
})
