import { readFileSync } from 'node:fs'
import t from 'tap'
import { createRequire } from 'node:module'
import { Broker } from '../src/index.ts'
import { LoadAverage, nodeLevel, SYS_TOPICS } from '../src/sys.ts'
import { connect, delay, pairBus, setup, type TestClient } from './helper.ts'
import { FakeClock } from './fake-clock.ts'

/** The Culex topics of the README's $SYS table (second column), without `$SYS/broker/`. */
function readmeTopics (): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const start = readme.indexOf('| Mosquitto 2.0 | Culex |')
  const rows = readme.slice(start).split('\n')
  const out: string[] = []
  for (const row of rows.slice(2)) {
    if (!row.startsWith('|')) break
    const culex = row.split('|')[2]!
    const m = /`\$SYS\/broker\/([^`]+)`/.exec(culex)
    if (m !== null) out.push(m[1]!)
  }
  return out
}

/** Latest payload per topic of the PUBLISH packets a client has received so far (drained). */
function drain (c: TestClient, into: Map<string, string>): void {
  for (const p of c.received.splice(0)) if (p.cmd === 'publish') into.set(p.topic, p.payload.toString())
}

/** Wait (polling every 10 ms, up to `ms`) until `ok()`; returns whether it became true. */
async function until (ok: () => boolean | Promise<boolean>, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > deadline) return false
    await delay(10)
  }
  return true
}

t.test('the README table lists every published topic, and Mosquitto 2.0\'s 54 are all there', async (t) => {
  const table = readmeTopics()
  t.same([...table].sort(), [...SYS_TOPICS].sort(), 'README table = published topics')
  t.equal(SYS_TOPICS.length, 59, '54 of Mosquitto 2.0 + 5 of Culex')
})

t.test('$SYS/# gets every topic of the README table with a plausible value; counters grow after traffic', async (t) => {
  const broker = setup(t, { sysInterval: 0.05 })
  const sys = await connect(t, broker, { clientId: 'sys' })
  await sys.subscribe('$SYS/#', 0)
  const seen = new Map<string, string>()
  const all = readmeTopics().map((name) => `$SYS/broker/${name}`)
  t.ok(await until(() => { drain(sys, seen); return all.every((topic) => seen.has(topic)) }), 'every topic arrives')
  for (const topic of all) {
    const v = seen.get(topic)!
    if (topic === '$SYS/broker/version') t.match(v, /^culex \d+\.\d+\.\d+/, topic)
    else if (topic === '$SYS/broker/uptime') t.match(v, /^\d+ seconds$/, topic)
    else if (topic.startsWith('$SYS/broker/load/')) t.match(v, /^\d+\.\d\d$/, topic)
    else t.match(v, /^\d+$/, topic)
  }
  t.equal(seen.get('$SYS/broker/clients/connected'), '1')
  t.equal(seen.get('$SYS/broker/subscriptions/count'), '1')
  t.ok(Number(seen.get('$SYS/broker/heap/current')) > 0, 'heap/current')
  t.ok(Number(seen.get('$SYS/broker/heap/maximum')) >= Number(seen.get('$SYS/broker/heap/current')), 'heap/maximum >= current')

  // traffic: a second client joins a shared group, a third publishes QoS 1 and one retained message
  const before = new Map(seen)
  const sub = await connect(t, broker, { clientId: 'sub' })
  await sub.subscribe('$share/g/data/#', 1)
  const pub = await connect(t, broker, { clientId: 'pub' })
  for (let i = 0; i < 5; i++) {
    pub.publish('data/x', 'hello', 1)
    await pub.next('puback')
    await sub.next('publish')
  }
  pub.publish('kept', 'retained', 1, true)
  await pub.next('puback')
  const grew = (name: string): boolean => Number(seen.get(`$SYS/broker/${name}`)) > Number(before.get(`$SYS/broker/${name}`))
  const counters = ['messages/received', 'messages/sent', 'publish/messages/received', 'publish/messages/sent',
    'bytes/received', 'bytes/sent', 'publish/bytes/received', 'publish/bytes/sent', 'clients/maximum', 'clients/total',
    'shared_subscriptions/count', 'retained messages/count', 'load/messages/received/1min', 'load/publish/received/1min',
    'load/bytes/received/1min', 'load/sockets/1min', 'load/connections/1min']
  t.ok(await until(() => { drain(sys, seen); return counters.every(grew) }), 'counters and loads grow')
  for (const name of counters) t.ok(grew(name), `${name} grew`)
  t.equal(seen.get('$SYS/broker/clients/connected'), '3')
  t.equal(seen.get('$SYS/broker/shared_subscriptions/count'), '1')
  t.equal(seen.get('$SYS/broker/retained messages/count'), String(SYS_TOPICS.length + 1), 'the retained $SYS tree and `kept`')
  t.ok(Number(seen.get('$SYS/broker/publish/messages/received')) >= 6)
  // retained, alone: a late subscriber gets the tree at once
  const retained = (await broker.store.matchRetained('$SYS/#')).map((m) => m.topic)
  for (const topic of all) t.ok(retained.includes(topic), `${topic} retained`)
})

t.test('load averages: per-minute rates smoothed as Mosquitto does', async (t) => {
  const l = new LoadAverage(1, 0)
  // 60 messages in the first 10 s: 360 a minute, which every window starts at
  t.same([...l.update([60], 10_000)], [360, 360, 360])
  // nothing in the next 10 s: each window decays by e^(-10/window)
  const after = [...l.update([60], 20_000)]
  t.equal(after[0]!.toFixed(6), (360 * Math.exp(-10 / 60)).toFixed(6))
  t.equal(after[1]!.toFixed(6), (360 * Math.exp(-10 / 300)).toFixed(6))
  t.equal(after[2]!.toFixed(6), (360 * Math.exp(-10 / 900)).toFixed(6))
  // a steady rate converges to that rate
  let v = 0
  for (let i = 3; i < 300; i++) v = l.update([60 + (i - 2) * 20], i * 10_000)[0]!
  t.ok(Math.abs(v - 120) < 0.01, `steady 120/min, got ${v}`)
  // the same instant twice changes nothing
  t.equal(l.update([1e9], 299 * 10_000)[0], v)
})

t.test('the broker clock drives the $SYS interval, uptime and the loads; clients/expired counts expired sessions', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, sysInterval: 30 })
  const value = async (name: string): Promise<string | undefined> =>
    (await broker.store.matchRetained(`$SYS/broker/${name}`))[0]?.payload.toString()

  const c = await connect(t, broker, { clientId: 'away', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 45 } })
  await clock.tick(29_999)
  t.equal(await value('uptime'), undefined, 'nothing published before the first interval')
  await clock.tick(1)
  t.equal(await value('uptime'), '30 seconds', 'published at 30 s')
  t.equal(await value('clients/disconnected'), '0')
  // one socket and one CONNECT in 30 s: 2 a minute
  t.equal(await value('load/sockets/1min'), '2.00')
  t.equal(await value('load/connections/15min'), '2.00')
  t.equal(await value('clients/expired'), '0')
  c.disconnect()
  await c.closed()
  await clock.tick(30_000)
  t.equal(await value('uptime'), '60 seconds', 'again at 60 s')
  t.equal(await value('clients/disconnected'), '1')
  t.equal(await value('clients/inactive'), '1')
  t.equal(await value('clients/total'), '1')
  t.equal(await value('load/sockets/1min'), (2 * Math.exp(-0.5)).toFixed(2), 'nothing new in 30 s: decayed by e^(-30/60)')
  await clock.tick(14_999)
  t.equal(broker.metrics().sessions.offline, 1, 'the session (expiry 45 s, offline since 30 s) is there at 74.999 s')
  await clock.tick(1)
  t.equal(broker.metrics().sessions.offline, 0, 'and expires at 75 s')
  await clock.tick(15_000)
  t.equal(await value('uptime'), '90 seconds')
  t.equal(await value('clients/expired'), '1')
  t.equal(await value('clients/disconnected'), '0')
})

t.test('cluster: each node publishes under $SYS/broker/nodes/<id>/, not retained; the lowest alive node publishes totals', async (t) => {
  const alive = ['b', 'a']
  const [busA, busB] = pairBus(alive)
  const a = new Broker({ bus: busA, sysInterval: 0.05 })
  const b = new Broker({ bus: busB, sysInterval: 0.05 })
  t.teardown(async () => { await a.close(); await b.close() })
  // three clients on a, one (the $SYS reader) on b
  for (let i = 0; i < 3; i++) await connect(t, a, { clientId: `on-a-${i}` })
  const sys = await connect(t, b, { clientId: 'sys' })
  await sys.subscribe('$SYS/#', 0)
  const seen = new Map<string, string>()
  const want = ['$SYS/broker/nodes/a/clients/connected', '$SYS/broker/nodes/b/clients/connected', '$SYS/broker/cluster/clients/connected']
  t.ok(await until(() => { drain(sys, seen); return want.every((topic) => seen.has(topic)) }), 'both nodes and the totals reach a subscriber on b')
  t.equal(seen.get('$SYS/broker/nodes/a/clients/connected'), '3', 'a counts its own clients')
  t.equal(seen.get('$SYS/broker/nodes/b/clients/connected'), '1', 'b counts its own clients')
  t.ok(await until(() => { drain(sys, seen); return seen.get('$SYS/broker/cluster/clients/connected') === '4' }), 'cluster total is the sum')
  t.equal(seen.get('$SYS/broker/cluster/nodes'), '2')
  t.equal(seen.get('$SYS/broker/cluster/version'), `culex ${(createRequire(import.meta.url)('../package.json') as { version: string }).version}`, 'the package\'s own version')
  t.match(seen.get('$SYS/broker/cluster/uptime'), /^\d+ seconds$/)
  for (const name of SYS_TOPICS) {
    t.ok(seen.has(`$SYS/broker/nodes/a/${name}`) && seen.has(`$SYS/broker/nodes/b/${name}`), `both nodes publish ${name}`)
  }
  t.notOk([...seen.keys()].some((topic) => topic.startsWith('$SYS/broker/clients/')), 'no shared single-node topics')
  // per-node values are never retained; the totals are, by one node only
  for (const broker of [a, b]) {
    t.same(await broker.store.matchRetained('$SYS/broker/nodes/#'), [], `${broker.id}: no per-node retained`)
  }
  t.ok((await a.store.matchRetained('$SYS/broker/cluster/clients/connected')).length === 1, 'a (lowest id) retains the totals')
  t.same(await b.store.matchRetained('$SYS/broker/cluster/#'), [], 'b does not')
  t.equal(a.metrics().localSubscriptions, 1, 'only the node that sums takes the others\' values in')
  t.equal(b.metrics().localSubscriptions, 0, 'the others pay nothing on their message path')
  t.equal(nodeLevel('x/y+z#\u0000'), 'x_y_z__', 'a node id becomes one valid topic level')

  // a leaves the alive set: b becomes the one that publishes totals, counting only itself
  alive.splice(alive.indexOf('a'), 1)
  t.ok(await until(async () => (await b.store.matchRetained('$SYS/broker/cluster/nodes'))[0]?.payload.toString() === '1'), 'b takes over the totals')
  const connected = (await b.store.matchRetained('$SYS/broker/cluster/clients/connected'))[0]?.payload.toString()
  t.equal(connected, '1', 'a dead node\'s last values no longer count')
  t.equal(b.metrics().localSubscriptions, 1, 'b gathers now')
  t.ok(await until(() => a.metrics().localSubscriptions === 0), 'a stopped gathering')
})
