import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { BusMessage } from '@culex/broker'
import { richMessage, plain, msg } from '@culex/store-suite'
import { Redis } from 'ioredis'
import { RedisBus } from '../src/index.ts'
import { startRedis } from './redis-server.ts'

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> => {
  for (const end = Date.now() + ms; !(await cond()) && Date.now() < end;) await new Promise((resolve) => setTimeout(resolve, 10))
  return await cond()
}

t.test('RedisBus: control messages reach every other node, never the sender; publishes follow the route table; liveness', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  // A sends without a backlog bound (no position read with its writes)
  const a = new RedisBus({ url: server.url, nodeId: 'A', heartbeatMs: 100, maxInboxBacklog: Infinity })
  const b = new RedisBus({ url: server.url, nodeId: 'B', heartbeatMs: 100 })
  const c = new RedisBus({ url: server.url, nodeId: 'C', heartbeatMs: 100 })
  t.teardown(async () => { await Promise.all([a.close(), b.close(), c.close()]) })
  const got: Record<string, BusMessage[]> = { A: [], B: [], C: [] }
  a.onMessage((m) => got.A!.push(m))
  b.onMessage((m) => got.B!.push(m))
  c.onMessage((m) => got.C!.push(m))
  c.addRoute('bus/#')
  await Promise.all([a.open(), b.open(), c.open()])
  t.same((await a.aliveNodes()).sort(), ['A', 'B', 'C'], 'all alive')
  t.ok(await until(() => a.interested('bus/topic')), 'A learns C\'s filter')
  t.notOk(a.interested('other/topic'), 'no node has other/#')
  const late = new RedisBus({ url: server.url, nodeId: 'late', heartbeatMs: 100 })
  t.teardown(() => late.close())
  await late.open()
  t.ok(late.interested('bus/topic'), 'a node knows the others\' tables once open() resolves')
  await late.close()

  const m = richMessage('bus/topic')
  await a.send({ type: 'publish', nodeId: 'A', message: m })
  await a.send({ type: 'publish', nodeId: 'A', message: msg('other/topic') })
  await a.send({ type: 'takeover', nodeId: 'A', clientId: 'client-1' })
  await b.send({ type: 'subscriptions', nodeId: 'B', clientId: 'client-2' })
  await c.send({ type: 'alive', nodeId: 'C', at: 123 })
  await until(() => got.A!.length >= 2 && got.B!.length >= 2 && got.C!.length >= 3)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(got.A!.map((x) => x.type), ['subscriptions', 'alive'], 'A got what B and C sent, not its own')
  t.same(got.B!.map((x) => x.type), ['takeover', 'alive'], 'B has no subscription: no publish')
  t.equal(b.stats.entries, 0, 'nothing was even read on B')
  t.same(got.C!.map((x) => x.type).sort(), ['publish', 'subscriptions', 'takeover'], 'C got A\'s publish and takeover, B\'s notice')
  const pub = got.C!.find((x) => x.type === 'publish')!
  t.same(plain(pub.type === 'publish' ? pub.message : null), plain(m), 'message byte for byte')
  t.equal(c.stats.delivered, 1, 'only the matching publish crossed')
  const compact = msg('bus/ü', Buffer.from([0, 1, 2, 255]), { qos: 2, retain: true, origin: 'pub-é' })
  await a.send({ type: 'publish', nodeId: 'A', message: compact })
  await a.send({ type: 'publish', nodeId: 'A', message: msg('bus/0', Buffer.alloc(0), { qos: 0 }) })
  t.ok(await until(() => c.stats.delivered === 3))
  const pubs = got.C!.filter((x) => x.type === 'publish').map((x) => x.type === 'publish' ? plain(x.message) : null)
  t.same(pubs.slice(1), [plain(compact), plain(msg('bus/0', Buffer.alloc(0), { qos: 0 }))], 'compact frames (origin, retain, empty payload) byte for byte')
  t.same(got.C!.find((x) => x.type === 'takeover'), { type: 'takeover', nodeId: 'A', clientId: 'client-1' })

  // a removed route stops the traffic
  c.removeRoute('bus/#')
  t.ok(await until(() => !a.interested('bus/topic')), 'A forgets C\'s filter')
  // a shared filter counts once per use: removed when the last use goes
  b.addRoute('s/+')
  b.addRoute('s/+')
  b.removeRoute('s/+')
  b.removeRoute('never/added')
  t.ok(await until(() => a.interested('s/x')), 'A learns B\'s filter')
  b.removeRoute('s/+')
  t.ok(await until(() => !a.interested('s/x')), 'and forgets it after the last removal')

  await c.close()
  t.same((await a.aliveNodes()).sort(), ['A', 'B'], 'a closed node leaves at once')
  await t.rejects(c.send({ type: 'alive', nodeId: 'C', at: 1 }), { code: 'STORE_REDIS_ERR_CLOSED' })
})

t.test('RedisBus: a dead node keeps its routes until adopted; the adopter gets what its inbox held from its position, once; then its routes and inbox go', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => admin.disconnect())
  // a node that died without leaving: its last beat, its routes, its inbox and position stay in Redis
  await admin.zadd('culex:nodes', Date.now(), 'ghost')
  await admin.sadd('culex:routes:{ghost}', 'g/#')
  const read = await admin.xadd('culex:bus:{ghost}', '*', 'n', 'A', 'i', 'old', 's', '1', 'd', 'processed before it died')
  await admin.hset('culex:bus:{ghost}:pos', 'id', read!, 's:A', 'old:1')
  const a = new RedisBus({ url: server.url, nodeId: 'A', heartbeatMs: 50, deadAfterMs: 300 })
  t.teardown(() => a.close())
  await a.open()
  t.ok(a.interested('g/1'), 'A routes g/# to ghost')
  await a.send({ type: 'publish', nodeId: 'A', message: msg('g/1') })
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(await a.aliveNodes(), ['A'], 'ghost is dead, A keeps beating')
  t.ok(a.interested('g/2'), 'nobody adopted ghost: A still routes to it')
  await a.send({ type: 'publish', nodeId: 'A', message: msg('g/2') })
  await a.sendTo('ghost', { type: 'released', nodeId: 'A', clientId: 'c', epoch: 1 })
  t.equal(await admin.xlen('culex:bus:{ghost}'), 4, 'into its inbox')

  const b = new RedisBus({ url: server.url, nodeId: 'B', heartbeatMs: 50, deadAfterMs: 300 })
  t.teardown(() => b.close())
  const got: string[] = []
  let stored = 0
  let handedOver = -1
  const direct: string[] = []
  b.onMessage((m) => { if (m.type === 'publish') direct.push(m.message.topic) })
  b.onNodeDead((dead) => {
    t.equal(dead.nodeId, 'ghost', 'B claims ghost')
    b.addRoute('g/#') // the adopted sessions' routes
    b.adopt(dead.nodeId, (m) => {
      if (m.type === 'publish') got.push(m.message.topic)
      return new Promise<void>((resolve) => setTimeout(() => { stored++; resolve() }, 20))
    }).then((n) => { handedOver = n }, (err: unknown) => t.error(err))
  })
  await b.open()
  t.ok(await until(() => handedOver >= 0), 'adopt resolves')
  t.equal(handedOver, 2, 'two publishes handed over')
  t.same(got, ['g/1', 'g/2'], 'what was published while it was dead, in order; not what it read before, nor a sendTo for it')
  t.equal(stored, 2, 'adopt waits for the store work the handler returned')
  t.equal(await admin.exists('culex:bus:{ghost}', 'culex:bus:{ghost}:pos', 'culex:routes:{ghost}'), 0, 'its inbox, position and routes are deleted')
  t.ok(await until(() => a.interested('g/3')), 'A routes g/# to B')
  await a.send({ type: 'publish', nodeId: 'A', message: msg('g/3') })
  t.equal(await admin.exists('culex:bus:{ghost}'), 0, 'and no longer to ghost')
  t.ok(await until(() => direct.length > 0), 'B receives it')
  t.same(direct, ['g/3'], 'B\'s own handler: only what was sent to B')
  await b.close()
  await t.rejects(b.adopt('ghost', () => {}), { code: 'STORE_REDIS_ERR_CLOSED' }, 'adopt after close')
})

t.test('RedisBus: a dead node is claimed by exactly one live node, once per death; a node claimed while running learns it', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => admin.disconnect())
  const warnings: string[] = []
  const logger = { warn: (_obj: object, msg: string) => { warnings.push(msg) } }
  // a node killed without leaving: one beat, then nothing (its heartbeat is a minute)
  const ghost = new RedisBus({ url: server.url, nodeId: 'ghost', heartbeatMs: 60_000, logger })
  t.teardown(() => ghost.close())
  const diedAt = Date.now() // its one beat is during open()
  await ghost.open()
  // a node without a handler claims nothing
  const idle = new RedisBus({ url: server.url, nodeId: 'idle', heartbeatMs: 50, deadAfterMs: 300, logger })
  t.teardown(() => idle.close())
  await idle.open()
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(await idle.aliveNodes(), ['idle'], 'ghost is not alive any more')
  t.not(await admin.zscore('culex:nodes', 'ghost'), null, 'but nobody with a handler claimed it')

  const claims: Array<{ by: string, nodeId: string, downFor: number, at: number }> = []
  const survivors = ['A', 'B', 'C'].map((id) => {
    const bus = new RedisBus({ url: server.url, nodeId: id, heartbeatMs: 50, deadAfterMs: 300, logger })
    bus.onNodeDead((d) => { claims.push({ by: id, ...d, at: Date.now() }) })
    return bus
  })
  t.teardown(async () => { await Promise.all(survivors.map((b) => b.close())) })
  await Promise.all(survivors.map((b) => b.open()))
  t.ok(await until(() => claims.length > 0, 2000), 'ghost is claimed')
  await new Promise((resolve) => setTimeout(resolve, 400)) // several more heartbeats of each survivor
  t.equal(claims.length, 1, 'by exactly one survivor')
  t.equal(claims[0]!.nodeId, 'ghost')
  t.ok(claims[0]!.downFor >= 300 && claims[0]!.downFor <= claims[0]!.at - diedAt, `downFor ${claims[0]!.downFor} ms: since its last beat`)
  t.ok(warnings.includes('RedisBus: claimed a dead node'), 'the claim is logged')

  // restarted with the same id, it is alive again; when it dies again it is claimed again
  const again = new RedisBus({ url: server.url, nodeId: 'ghost', heartbeatMs: 60_000, logger })
  t.teardown(() => again.close())
  await again.open()
  const restartedAt = Date.now()
  t.ok((await survivors[0]!.aliveNodes()).includes('ghost'), 'a restarted node is alive')
  t.ok(await until(() => claims.length > 1, 2000), 'claimed again after its second death')
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(claims.length, 2, 'once')
  t.ok(claims[1]!.at - restartedAt < 300 + 50 + 500, `within deadAfterMs + a heartbeat (${claims[1]!.at - restartedAt} ms)`)
  t.notOk(claims.some((c) => c.nodeId !== 'ghost'), 'live nodes (beating, or without a handler) are never claimed')

  // a live node claimed anyway (its beats did not reach Redis in time) learns it at its next beat
  t.equal(survivors[1]!.stats.declaredDead, 0)
  await admin.zrem('culex:nodes', 'B')
  t.ok(await until(() => survivors[1]!.stats.declaredDead === 1, 1000), 'counted')
  t.ok(warnings.some((w) => w.includes('claimed dead by another node')), 'and logged')
  t.ok((await survivors[0]!.aliveNodes()).includes('B'), 'it is back in the node set')
})

t.test('RedisBus: 100 dead nodes, 4 live nodes claiming concurrently: each dead node claimed exactly once', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => admin.disconnect())
  const claims: string[] = []
  const per: Record<string, number> = {}
  let tooRecent = 0
  const live = Array.from({ length: 4 }, (_, i) => {
    const bus = new RedisBus({ url: server.url, nodeId: `live-${i}`, heartbeatMs: 20, deadAfterMs: 1000, logger: { warn () {} } })
    bus.onNodeDead((d) => {
      claims.push(d.nodeId)
      per[bus.nodeId] = (per[bus.nodeId] ?? 0) + 1
      if (d.downFor < 9000) tooRecent++
    })
    return bus
  })
  t.teardown(async () => { await Promise.all(live.map((b) => b.close())) })
  await Promise.all(live.map((b) => b.open()))
  // waves of nodes that died 10 s ago (their last beats, as they left them in Redis), while
  // the four live nodes beat and claim every 20 ms each
  for (let wave = 0; wave < 10; wave++) {
    const long = Date.now() - 10_000
    await admin.zadd('culex:nodes', ...Array.from({ length: 10 }, (_, i) => [long, `dead-${wave}-${i}`]).flat())
    await new Promise((resolve) => setTimeout(resolve, 7 + wave * 3))
  }
  t.ok(await until(() => claims.length >= 100, 3000), 'all claimed')
  await new Promise((resolve) => setTimeout(resolve, 200)) // ten more heartbeats of each
  t.equal(claims.length, 100, 'no dead node twice')
  t.equal(new Set(claims).size, 100, 'every dead node once')
  t.equal(tooRecent, 0, 'each with how long it has been down')
  t.same((await admin.zrange('culex:nodes', 0, -1)).sort(), ['live-0', 'live-1', 'live-2', 'live-3'], 'only the live nodes are left')
  t.comment(`claims per live node: ${JSON.stringify(per)}`)
})

t.test('RedisBus: a dead-node handler that throws is logged; the bus carries on', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => admin.disconnect())
  await admin.zadd('culex:nodes', Date.now() - 10_000, 'dead-1')
  const warnings: string[] = []
  const bus = new RedisBus({ url: server.url, nodeId: 'live', heartbeatMs: 20, deadAfterMs: 1000, logger: { warn: (_o, msg) => { warnings.push(msg) } } })
  t.teardown(() => bus.close())
  const seen: string[] = []
  bus.onNodeDead((d) => { seen.push(d.nodeId); throw new Error('handler bug') })
  await bus.open()
  t.ok(await until(() => warnings.includes('RedisBus: the dead-node handler threw')), 'logged')
  await admin.zadd('culex:nodes', Date.now() - 10_000, 'dead-2')
  t.ok(await until(() => seen.length === 2), 'the next dead node is still claimed')
  t.same(seen, ['dead-1', 'dead-2'])
})

t.test('RedisBus: heartbeatMs and deadAfterMs are checked', async (t) => {
  for (const opts of [{ heartbeatMs: 0 }, { heartbeatMs: 1.5 }, { heartbeatMs: Number.NaN }, { deadAfterMs: 1000 }, { heartbeatMs: 100, deadAfterMs: 50 }, { deadAfterMs: 2500.5 }, { deadAfterMs: -1 }]) {
    t.throws(() => new RedisBus(opts), { code: 'STORE_REDIS_ERR_OPTIONS', message: /heartbeatMs|deadAfterMs/ }, JSON.stringify(opts))
  }
  const ok = new RedisBus({ heartbeatMs: 100, deadAfterMs: 101 })
  t.equal(ok.nodeId.length > 0, true, 'deadAfterMs just above heartbeatMs is accepted')
  await ok.close()
  for (const maxInboxBacklog of [0, -5, 1.5, Number.NaN]) {
    t.throws(() => new RedisBus({ maxInboxBacklog }), { code: 'STORE_REDIS_ERR_OPTIONS', message: /maxInboxBacklog/ }, `maxInboxBacklog ${maxInboxBacklog}`)
  }
  await new RedisBus({ maxInboxBacklog: Infinity }).close()
  await new RedisBus({ maxInboxBacklog: 1 }).close()
  t.pass('maxInboxBacklog Infinity and 1 are accepted')
})

/** The ids of the Redis connections named `name`. */
async function clientIds (admin: Redis, name: string): Promise<string[]> {
  const list = await admin.client('LIST') as string
  return list.split('\n').filter((l) => l.includes(` name=${name} `)).map((l) => /id=(\d+)/.exec(l)![1]!)
}

t.test('RedisBus: publishes cross nodes exactly once and in order while connections are killed; the inbox is trimmed', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => { admin.disconnect() })
  const a = new RedisBus({ url: server.url, nodeId: 'A', heartbeatMs: 100, blockMs: 200, redis: { connectionName: 'busA' } })
  const b = new RedisBus({ url: server.url, nodeId: 'B', heartbeatMs: 100, blockMs: 200, redis: { connectionName: 'busB' } })
  t.teardown(async () => { await Promise.all([a.close(), b.close()]) })
  const got: number[] = []
  b.onMessage((m) => { if (m.type === 'publish') got.push(Number(m.message.payload.toString())) })
  b.addRoute('q/#')
  await Promise.all([a.open(), b.open()])
  t.ok(await until(() => a.interested('q/1')))

  const acked: number[] = []
  let failed = 0
  const total = 3000
  // kill B's connections (pub/sub and the blocking reader) and A's writer, 12 times, each
  // while a batch of sends is in flight: spread over the run whatever the machine's speed
  let kills = 0
  const killRound = async (): Promise<void> => {
    const name = kills % 3 === 2 ? 'busA' : 'busB'
    for (const id of await clientIds(admin, name)) await admin.client('KILL', 'ID', id).catch(() => {})
    if (kills % 4 === 0) await admin.client('KILL', 'TYPE', 'pubsub').catch(() => {})
    kills++
  }
  // 10 publishes per tick, each awaited as a publisher's acknowledgement would be
  for (let i = 0; i < total; i += 10) {
    const sends: Array<Promise<void>> = []
    for (let j = i; j < i + 10; j++) sends.push(a.send({ type: 'publish', nodeId: 'A', message: msg(`q/${j % 7}`, String(j)) }))
    if (i > 0 && i % 240 === 0) await killRound()
    const res = await Promise.allSettled(sends)
    for (let j = 0; j < 10; j++) {
      if (res[j]!.status === 'fulfilled') acked.push(i + j)
      else failed++
    }
  }
  t.equal(kills, 12, `${kills} connection kills during the run`)
  await until(() => got.length >= acked.length && (got.length === 0 || got[got.length - 1] === total - 1), 15_000)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const seen = new Set(got)
  t.equal(acked.filter((x) => !seen.has(x)).length, 0, `0 of ${acked.length} acknowledged publishes lost (${failed} not acknowledged)`)
  t.equal(got.length, seen.size, '0 duplicates')
  t.same(got, [...got].sort((x, y) => x - y), 'in the order sent')
  t.equal(b.stats.gaps, 0, 'no gaps counted (every failed write was retried by the client)')
  t.comment(`entries ${b.stats.entries}, replays skipped ${b.stats.replays}, gaps ${b.stats.gaps}`)
  let len = -1
  for (let i = 0; i < 50 && len !== 0; i++) {
    len = await admin.xlen('culex:bus:{B}')
    if (len !== 0) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.equal(len, 0, 'B\'s inbox is trimmed once read')
  const pos = await admin.hgetall('culex:bus:{B}:pos')
  t.match(pos, { id: /^\d+-\d+$/, 's:A': /:\d+$/ }, 'B\'s position and A\'s sequence number are stored')
})

t.test('RedisBus: the same entry twice (a retried XADD) is delivered once; a gap is counted and logged', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => { admin.disconnect() })
  const warnings: Array<Record<string, unknown>> = []
  const b = new RedisBus({ url: server.url, nodeId: 'B', blockMs: 100, logger: { warn: (o) => { warnings.push(o as Record<string, unknown>) } } })
  t.teardown(() => b.close())
  const got: string[] = []
  b.onMessage((m) => { if (m.type === 'publish') got.push(m.message.topic) })
  await b.open()
  // entries written as another node would: [u32 length][record] frames
  const { packRecord, messageHead } = await import('@culex/broker')
  const frame = (topic: string): Buffer => {
    const r = packRecord(messageHead(msg(topic)), Buffer.from('x'))
    const len = Buffer.alloc(4)
    len.writeUInt32BE(r.length)
    return Buffer.concat([len, r])
  }
  const add = async (seq: number, data: Buffer): Promise<void> => { await admin.xadd('culex:bus:{B}', '*', 'n', 'X', 'i', 'inc1', 's', String(seq), 'd', data) }
  await add(1, Buffer.concat([frame('t/1'), frame('t/2')]))
  await add(1, Buffer.concat([frame('t/1'), frame('t/2')]))
  await add(2, frame('t/3'))
  await add(5, frame('t/6'))
  await admin.xadd('culex:bus:{B}', '*', 'junk', 'y')
  await add(6, Buffer.from([0, 0, 0, 99, 1]))
  await add(7, Buffer.concat([Buffer.from([0, 0, 0, 2, 1, 2]), frame('t/8')]))
  t.ok(await until(() => b.stats.entries === 7))
  t.same(got, ['t/1', 't/2', 't/3', 't/6', 't/8'], 'the replay is skipped, bad frames too, the rest delivered in order')
  t.equal(b.stats.replays, 1)
  t.equal(b.stats.gaps, 2, 'seq 3 and 4 never came')
  t.equal(b.stats.corrupt, 3, 'an entry without fields, a truncated frame, an undecodable frame')
  t.match(warnings, [{ from: 'X', expected: 3, got: 5 }], 'the gap is logged')
  // a handler that throws is logged; the inbox goes on
  b.onMessage((m) => {
    if (m.type === 'publish' && m.message.topic === 't/throw') throw new Error('handler bug')
    if (m.type === 'publish') got.push(m.message.topic)
  })
  await add(8, Buffer.concat([frame('t/throw'), frame('t/9')]))
  t.ok(await until(() => got.includes('t/9')), 'the next message is still delivered')
  t.match(warnings[1], { from: 'X', err: 'handler bug' })
  // compact frames that do not parse are skipped; the next one is delivered
  const framed = (...bytes: number[]): Buffer => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), Buffer.from(bytes)])
  const corrupt = b.stats.corrupt
  await add(9, Buffer.concat([
    framed(0x83, 0, 1, 0x61), // QoS 3
    framed(0x81, 0), // no topic length
    framed(0x81, 0, 9, 0x61), // topic past the end
    framed(0x89, 0, 1, 0x61, 0), // no origin length
    framed(0x89, 0, 1, 0x61, 0, 5, 0x6f), // origin past the end
    Buffer.from([0, 0, 0, 0]), // empty
    frame('t/10')
  ]))
  t.ok(await until(() => got.includes('t/10')))
  t.equal(b.stats.corrupt - corrupt, 6, 'six bad compact frames counted')
  // a new incarnation of X starts again at 1; one that starts later has a gap
  await add(1, frame('t/ignored-inc1'))
  await admin.xadd('culex:bus:{B}', '*', 'n', 'X', 'i', 'inc2', 's', '1', 'd', frame('t/new'))
  await admin.xadd('culex:bus:{B}', '*', 'n', 'Y', 'i', 'incY', 's', '3', 'd', frame('t/y'))
  t.ok(await until(() => b.stats.entries === 12))
  t.same(got.slice(7), ['t/new', 't/y'])
  t.equal(b.stats.gaps, 4, 'Y started at 3')
})

t.test('RedisBus: an entry counts as read only once the handler\'s promise resolved; none read meanwhile; a rejected one is read again; a node closed meanwhile reads it again', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => { admin.disconnect() })
  const warnings: Array<Record<string, unknown>> = []
  const logger = { warn: (o: object) => { warnings.push(o as Record<string, unknown>) } }
  const b = new RedisBus({ url: server.url, nodeId: 'B', blockMs: 50, retryMs: 50, logger })
  t.teardown(() => b.close())
  const got: string[] = []
  const gates = new Map<string, Promise<void>>()
  const gate = (topic: string): () => void => {
    let open!: () => void
    gates.set(topic, new Promise<void>((resolve) => { open = resolve }))
    return open
  }
  let failOnce = 't/5'
  b.onMessage((m) => {
    if (m.type !== 'publish') return null
    const topic = m.message.topic
    got.push(topic)
    if (topic === failOnce) {
      failOnce = ''
      return Promise.reject(new Error('store down'))
    }
    return gates.get(topic) ?? null
  })
  await b.open()
  const { packRecord, messageHead } = await import('@culex/broker')
  const frame = (topic: string): Buffer => {
    const r = packRecord(messageHead(msg(topic)), Buffer.from('x'))
    const len = Buffer.alloc(4)
    len.writeUInt32BE(r.length)
    return Buffer.concat([len, r])
  }
  const ids: string[] = []
  const add = async (seq: number, data: Buffer): Promise<void> => { ids.push((await admin.xadd('culex:bus:{B}', '*', 'n', 'X', 'i', 'inc1', 's', String(seq), 'd', data))!) }
  const open1 = gate('t/1')
  await add(1, Buffer.concat([frame('t/1'), frame('t/2')]))
  t.ok(await until(() => got.includes('t/2')), 'both publishes of the entry handed over')
  await add(2, frame('t/3'))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(got, ['t/1', 't/2'], 'the next entry is not read while the first one\'s work is pending')
  t.same(await admin.hgetall('culex:bus:{B}:pos'), {}, 'no position saved')
  t.equal(await admin.xlen('culex:bus:{B}'), 2, 'nothing trimmed')
  // t/3 waits too; the next two entries arrive meanwhile and are read in one batch
  const open3 = gate('t/3')
  open1()
  t.ok(await until(() => got.includes('t/3')))
  t.ok(await until(async () => (await admin.hget('culex:bus:{B}:pos', 'id')) === ids[0], 5000), 'the position moves past the first entry once its work is done')
  await add(3, frame('t/4'))
  await add(4, Buffer.concat([frame('t/5'), frame('t/6')]))
  await add(5, frame('t/7'))
  open3()
  t.ok(await until(() => got.filter((x) => x === 't/7').length === 2, 5000), 'read again after the failure')
  t.same(got, ['t/1', 't/2', 't/3', 't/4', 't/5', 't/6', 't/7', 't/5', 't/6', 't/7'], 'the entry whose write failed and those after it are delivered again, the one before it once')
  t.equal(b.stats.storeFailures, 1)
  t.equal(b.stats.replays, 0, 'not taken for replays')
  t.equal(b.stats.gaps, 0)
  t.match(warnings, [{ node: 'B', entry: ids[3], err: 'store down' }], 'the failure is logged with the entry read again')
  t.ok(await until(async () => (await admin.hget('culex:bus:{B}:pos', 'id')) === ids[4], 5000), 'then the position moves past the last entry')
  t.equal(await admin.hget('culex:bus:{B}:pos', 's:X'), 'inc1:5')
  t.ok(await until(async () => (await admin.xlen('culex:bus:{B}')) === 0, 5000), 'and the inbox is trimmed')
  // a node that stops (or is killed) before the work of an entry is done reads it again
  gate('t/8')
  await add(6, frame('t/8'))
  t.ok(await until(() => got.includes('t/8')))
  await b.close()
  t.equal(await admin.hget('culex:bus:{B}:pos', 'id'), ids[4], 'closed before t/8\'s work was done: the position stays before it')
  const b2 = new RedisBus({ url: server.url, nodeId: 'B', blockMs: 50, logger })
  t.teardown(() => b2.close())
  const again: string[] = []
  b2.onMessage((m) => { if (m.type === 'publish') again.push(m.message.topic) })
  await b2.open()
  t.ok(await until(() => again.length > 0))
  t.same(again, ['t/8'], 'the restarted node reads it again, and only it')
  t.ok(await until(async () => (await admin.xlen('culex:bus:{B}')) === 0, 5000))
})

t.test('RedisBus: nothing is read from the inbox before a handler is registered', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => { admin.disconnect() })
  const { packRecord, messageHead } = await import('@culex/broker')
  const r = packRecord(messageHead(msg('kept/1')), Buffer.from('x'))
  const len = Buffer.alloc(4)
  len.writeUInt32BE(r.length)
  await admin.xadd('culex:bus:{B}', '*', 'n', 'X', 'i', 'inc1', 's', '1', 'd', Buffer.concat([len, r]))
  const b = new RedisBus({ url: server.url, nodeId: 'B', blockMs: 50 })
  t.teardown(() => b.close())
  await b.open()
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(b.stats.entries, 0, 'not read without a handler')
  t.equal(await admin.xlen('culex:bus:{B}'), 1, 'still in the inbox')
  const got: string[] = []
  b.onMessage((m) => { if (m.type === 'publish') got.push(m.message.topic) })
  t.ok(await until(() => got.length === 1), 'read once the handler is there')
  t.same(got, ['kept/1'])
  // a bus closed while it waits for a handler stops at once
  const c = new RedisBus({ url: server.url, nodeId: 'C', blockMs: 50 })
  await c.open()
  await c.close()
  t.equal(c.stats.entries, 0)
})

const here = fileURLToPath(new URL('.', import.meta.url))

t.test('RedisBus: a node killed and restarted with the same id resumes from its stored position', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = new RedisBus({ url: server.url, nodeId: 'A', heartbeatMs: 100, deadAfterMs: 10_000 })
  t.teardown(() => a.close())
  await a.open()
  // node B in a child process (this source, with the TypeScript loader tap gave us), killed with SIGKILL
  const script = `
    import { RedisBus } from '../src/index.ts'
    const b = new RedisBus({ url: ${JSON.stringify(server.url)}, nodeId: 'B', heartbeatMs: 100, blockMs: 100 })
    b.onMessage((m) => { if (m.type === 'publish') process.stdout.write(m.message.payload.toString() + '\\n') })
    b.addRoute('r/#')
    await b.open()
    process.stdout.write('ready\\n')
  `
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const lines: string[] = []
  let buf = ''
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    const parts = buf.split('\n')
    buf = parts.pop()!
    lines.push(...parts)
  })
  t.ok(await until(() => lines.includes('ready'), 15_000), 'B started')
  t.ok(await until(() => a.interested('r/1')), 'A routes to B')
  for (let i = 0; i < 20; i++) await a.send({ type: 'publish', nodeId: 'A', message: msg('r/1', String(i)) })
  t.ok(await until(() => lines.includes('19')), 'B received the first 20')
  await new Promise((resolve) => setTimeout(resolve, 200)) // B stores its position
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  // A still routes to B (not dead yet): these wait in B's inbox
  for (let i = 20; i < 40; i++) await a.send({ type: 'publish', nodeId: 'A', message: msg('r/1', String(i)) })
  const b = new RedisBus({ url: server.url, nodeId: 'B', heartbeatMs: 100, blockMs: 100 })
  t.teardown(() => b.close())
  const got: string[] = []
  b.onMessage((m) => { if (m.type === 'publish') got.push(m.message.payload.toString()) })
  b.addRoute('r/#')
  await b.open()
  t.ok(await until(() => got.length >= 20))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(got, Array.from({ length: 20 }, (_, i) => String(20 + i)), 'the restarted node gets exactly what it missed, in order')
  t.same(lines.filter((l) => l !== 'ready'), Array.from({ length: 20 }, (_, i) => String(i)))
})

t.test('RedisBus: shared groups are cluster-wide: picks weighted by connected members, carried to the picked node only', async (t) => {
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
  const g = '$share/g/s/+'
  t.equal(a.pickShares('s/1'), null, 'no group anywhere: no pick, nothing allocated')
  b.setShare(g, 2, 2)
  c.setShare(g, 1, 3)
  c.setShare('$share/other/x/#', 0, 1)
  await Promise.all([a.open(), b.open(), c.open()])
  const count = (picks: ReadonlyArray<readonly [string, string]> | null): Record<string, number> => {
    const n: Record<string, number> = {}
    for (const [, node] of picks ?? []) n[node] = (n[node] ?? 0) + 1
    return n
  }
  const spread = (bus: RedisBus, k: number): Record<string, number> => count(Array.from({ length: k }, () => bus.pickShares('s/1')![0]!))
  t.ok(await until(() => { const n = spread(a, 3); return n.B === 2 && n.C === 1 }), 'A knows B\'s and C\'s groups')
  t.ok(await until(() => b.pickShare(g, 'B') === 'C'), 'B knows C\'s group')
  t.same(spread(a, 300), { B: 200, C: 100 }, 'A picks by connected members: B 2, C 1')
  t.same(a.pickShares('s/1/deeper'), null, 'the filter decides')
  t.same(a.pickShares('x/1'), [['$share/other/x/#', 'C']], 'a group with offline members only is still served')
  // this node's own members count at once
  b.setShare(g, 1, 2)
  t.same(spread(b, 200), { B: 100, C: 100 }, 'B counts its own members at once')
  t.equal(a.pickShare(g, 'B'), 'C', 'another node than the one excluded')
  t.equal(a.pickShare('$share/other/x/#', 'C'), null, 'no other node has a member')
  t.equal(a.pickShare('$share/none/x', 'C'), null, 'an unknown group')
  // no connected member anywhere: any node with members, in turn
  b.setShare(g, 0, 2)
  c.setShare(g, 0, 3)
  t.ok(await until(() => { const n = spread(a, 10); return n.B === 5 && n.C === 5 }), 'nodes with offline members only, in turn')

  // a publish with picks reaches the picked node even without a matching route; a 'shared' message only the picked one
  a.addRoute('s/#')
  t.ok(await until(() => b.interested('s/1')), 'B knows A\'s route')
  await b.send({ type: 'publish', nodeId: 'B', message: msg('s/1', 'p'), shares: [[g, 'C'], ['$share/h/s/1', 'B']] })
  await b.send({ type: 'shared', nodeId: 'B', message: msg('s/1', 'redo', { qos: 1 }), shares: [[g, 'C'], ['$share/h/s/#', 'C']] })
  const rich = richMessage('s/ü')
  await b.send({ type: 'publish', nodeId: 'B', message: rich, shares: [[g, 'C']] })
  t.ok(await until(() => got.C!.length >= 3 && got.A!.length >= 2))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(got.A!.map((m) => m.type === 'publish' ? [m.message.topic, m.shares] : m.type), [['s/1', undefined], ['s/ü', undefined]], 'A (route) gets the publishes without picks (none is its), never the shared-only message')
  t.same(got.C!.map((m) => m.type === 'shared' || m.type === 'publish' ? [m.type, m.shares] : m.type), [['publish', [[g, 'C']]], ['shared', [[g, 'C'], ['$share/h/s/#', 'C']]], ['publish', [[g, 'C']]]], 'C (picked) gets all three once each, with its own picks only')
  const shared = got.C![1]!
  t.same(shared.type === 'shared' ? [plain(shared.message), shared.shares] : null, [plain(msg('s/1', 'redo', { qos: 1 })), [[g, 'C'], ['$share/h/s/#', 'C']]], 'a shared-only message byte for byte, with its picks')
  const third = got.C![2]!
  t.same(third.type === 'publish' ? plain(third.message) : null, plain(rich), 'a message with properties, wrapped with its picks')
  t.equal(got.B!.length, 0, 'never to the sender')

  // picks that do not parse: the frame is skipped, the next one delivered
  const admin = new Redis(server.url)
  t.teardown(() => { admin.disconnect() })
  const framed = (...bytes: number[]): Buffer => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), Buffer.from(bytes)])
  const corrupt = c.stats.corrupt
  const compact = [0x81, 0, 3, 0x73, 0x2f, 0x31, 0x78] // QoS 1 's/1' payload 'x'
  await admin.xadd('culex:bus:{C}', '*', 'n', 'X', 'i', 'inc', 's', '1', 'd', Buffer.concat([
    framed(0x40, 0, 0), // no count
    framed(0x40, 0, 0, 0, 1, 0, 0), // a share length cut short
    framed(0x40, 0, 0, 0, 1, 0, 0, 0, 9, 0x61), // a share past the end
    framed(0x40, 0, 0, 0, 1, 0, 0, 0, 1, 0x61, 0, 0), // a node length cut short
    framed(0x40, 0, 0, 0, 1, 0, 0, 0, 1, 0x61, 0, 0, 0, 5, 0x43), // a node past the end
    framed(0x40, 0, 0, 0, 0), // picks without a body
    framed(0x41, 0, 0, 0, 1, 0, 0, 0, 1, 0x61, 0, 0, 0, 1, 0x43, ...compact)
  ]))
  t.ok(await until(() => got.C!.length >= 4))
  t.same(got.C![3], { type: 'shared', nodeId: 'X', message: { topic: 's/1', payload: Buffer.from('x'), qos: 1, retain: false }, shares: [['a', 'C']] }, 'well-formed picks decode')
  t.equal(c.stats.corrupt - corrupt, 6, 'six frames with bad picks counted')

  // groups leave with their last member, and with a closed node
  c.setShare('$share/other/x/#', 0, 0)
  t.ok(await until(() => a.pickShares('x/1') === null), 'A forgets a group C left')
  await c.close()
  t.ok(await until(() => a.pickShare(g, 'B') === null), 'a closed node is picked no more')
})

t.test('RedisBus sendTo: one node only, durable (read by a node that starts later), in order with publishes', async (t) => {
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
  b.addRoute('handoff/#')
  await Promise.all([a.open(), b.open(), c.open()])
  t.ok(await until(() => a.interested('handoff/x')))
  const release: BusMessage = { type: 'release', nodeId: 'A', clientId: 'cl-ü', epoch: 7, discard: false }
  const pub = a.send({ type: 'publish', nodeId: 'A', message: msg('handoff/x', 'first') })
  await a.sendTo('B', release)
  await pub
  await a.sendTo('B', { type: 'released', nodeId: 'A', clientId: 'cl-ü', epoch: 8 })
  t.ok(await until(() => got.B!.length === 3))
  t.same(got.B!.map((m) => m.type), ['release', 'publish', 'released'], 'in the order written (the publish waited for its flush)')
  t.same(got.B![0], release, 'the message as sent')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(got.C!, [], 'no other node gets it')
  t.same(got.A!, [], 'nor the sender')
  t.equal(b.stats.gaps + b.stats.replays + b.stats.corrupt, 0, 'one sequence with the publishes: no gap, no replay')

  // a node that is not running reads it when it starts
  await a.sendTo('D', { type: 'released', nodeId: 'A', clientId: 'later', epoch: 1 })
  const d = new RedisBus({ url: server.url, nodeId: 'D', heartbeatMs: 100 })
  t.teardown(() => d.close())
  const gotD: BusMessage[] = []
  d.onMessage((m) => gotD.push(m))
  await d.open()
  t.ok(await until(() => gotD.length === 1), 'durable: in the inbox until D runs')
  t.same(gotD[0], { type: 'released', nodeId: 'A', clientId: 'later', epoch: 1 })

  // an entry claiming another sender than its own is not trusted
  const raw = new Redis(server.url)
  t.teardown(() => { raw.disconnect() })
  const { packRecord } = await import('@culex/packet/record')
  await raw.xadd('culex:bus:{B}', '*', 'n', 'Z', 'i', 'x', 's', '1', 'c', packRecord({ type: 'released', nodeId: 'A', clientId: 'forged', epoch: 1 }, Buffer.alloc(0)))
  await raw.xadd('culex:bus:{B}', '*', 'n', 'Z', 'i', 'x', 's', '2', 'c', Buffer.from([1, 2, 3]))
  t.ok(await until(() => b.stats.corrupt === 2), 'a forged sender and an undecodable entry are counted, not delivered')
  t.equal(got.B!.length, 3)
  await a.close()
  await t.rejects(a.sendTo('B', release), { code: 'STORE_REDIS_ERR_CLOSED' })
})

t.test('RedisBus: the inbox position moves past a publish only once the store work the handler returned settled', async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = new RedisBus({ url: server.url, nodeId: 'A', heartbeatMs: 100 })
  const b = new RedisBus({ url: server.url, nodeId: 'B', heartbeatMs: 100 })
  t.teardown(async () => { await Promise.all([a.close(), b.close()]) })
  const raw = new Redis(server.url)
  t.teardown(() => { raw.disconnect() })
  let release: () => void = () => {}
  const work = new Promise<void>((resolve) => { release = resolve })
  const got: string[] = []
  b.onMessage((m) => {
    if (m.type !== 'publish') return
    got.push(m.message.topic)
    return m.message.topic === 'slow/1' ? work : undefined
  })
  b.addRoute('slow/#')
  await Promise.all([a.open(), b.open()])
  t.ok(await until(() => a.interested('slow/1')))
  await a.send({ type: 'publish', nodeId: 'A', message: msg('slow/1') })
  t.ok(await until(() => got.length === 1))
  await a.send({ type: 'publish', nodeId: 'A', message: msg('slow/2') })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(got, ['slow/1'], 'later entries wait: the inbox is not read while an entry\'s work is pending (backpressure)')
  t.equal(await raw.hget('culex:bus:{B}:pos', 'id'), null, 'no position saved while the first entry\'s work is pending')
  t.equal(await raw.xlen('culex:bus:{B}'), 2, 'nor trimmed')
  release()
  t.ok(await until(() => got.length === 2), 'then later entries are read and delivered')
  let saved: string | null = null
  for (let i = 0; i < 100 && saved === null; i++) {
    saved = await raw.hget('culex:bus:{B}:pos', 'id')
    if (saved === null) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.ok(saved !== null, 'saved once it settled')
  for (let i = 0; i < 100 && (await raw.xlen('culex:bus:{B}')) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(await raw.xlen('culex:bus:{B}'), 0, 'both entries trimmed (positions saved in order)')
})
