/**
 * A dead cluster node's wills, end to end: three real `culex --cluster` processes on one
 * redis-server, MQTT.js clients holding wills on one node, that node killed with SIGKILL.
 * One survivor (the winner of the claim in Redis) publishes each will exactly once, within
 * `--cluster-dead-after` (plus the will delay); a client that came back elsewhere has its
 * will dropped; a node restarted with its id in time publishes its wills itself.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { culexMissing, sleep, startCulex, startRedis, type Culex } from '@culex/test-kit'

const skip = culexMissing()

async function node (t: Test, url: string, id: string, deadAfter: number, cwd: string): Promise<Culex> {
  return await startCulex(t, ['--sys-interval', '0', '--store', url, '--cluster', '--node-id', id, '--cluster-dead-after', String(deadAfter)], { cwd })
}

async function client (t: Test, port: number, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => { c.end(true) })
  return c
}

/** A client holding a will on `will/<id>` (MQTT 5, session expiry 60 s), `delay` seconds of will delay. */
async function withWill (t: Test, port: number, id: string, delay: number): Promise<MqttClient> {
  const c = await client(t, port, {
    protocolVersion: 5,
    clientId: id,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: { topic: `will/${id}`, payload: Buffer.from(`gone ${id}`), qos: 1, retain: false, properties: { willDelayInterval: delay } }
  })
  c.on('error', () => {}) // the node it is connected to is killed
  return c
}

/** Subscribed to will/# on `port`: each will's arrival times (ms since epoch). */
async function watch (t: Test, port: number, name: string): Promise<Map<string, number[]>> {
  const seen = new Map<string, number[]>()
  const c = await client(t, port, { clientId: name })
  c.on('message', (topic) => {
    const id = topic.slice('will/'.length)
    seen.set(id, [...(seen.get(id) ?? []), Date.now()])
  })
  await c.subscribeAsync('will/#', { qos: 1 })
  return seen
}

/** Log records of `c` saying it adopted a dead node. */
const adoptions = (c: Culex): Array<Record<string, unknown>> => c.logs.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('cluster node dead'))

t.test('a node killed with SIGKILL: one survivor publishes each of its wills once, within --cluster-dead-after (+ will delay)', { skip, timeout: 90_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const dir = mkdtempSync(join(tmpdir(), 'culex-dead-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const deadAfter = 1000
  const heartbeat = 333 // a third of it
  const slack = 1500 // a loaded machine: process scheduling, Redis and MQTT round trips
  const [a, b, c] = await Promise.all([node(t, server.url, 'node-a', deadAfter, dir), node(t, server.url, 'node-b', deadAfter, dir), node(t, server.url, 'node-c', deadAfter, dir)])
  const onB = await watch(t, b.port, 'watch-b')
  const onC = await watch(t, c.port, 'watch-c')
  await withWill(t, a.port, 'now', 0)
  await withWill(t, a.port, 'later', 2)
  await withWill(t, a.port, 'back', 3) // comes back on node B before its delay
  // let node A's route table and the watchers' settle
  await sleep(300)

  const killedAt = Date.now()
  await a.stop('SIGKILL')
  await client(t, b.port, { protocolVersion: 5, clientId: 'back', clean: false, properties: { sessionExpiryInterval: 60 } })

  for (const end = Date.now() + 10_000; Date.now() < end && !(onB.has('later') && onC.has('later'));) await sleep(50)
  await sleep(1500) // anything published twice would be here by now
  for (const [where, seen] of [['node-b', onB], ['node-c', onC]] as const) {
    t.same([...seen.keys()].sort(), ['later', 'now'], `${where}: the wills of the clients that did not come back`)
    t.equal(seen.get('now')?.length, 1, `${where}: once`)
    t.equal(seen.get('later')?.length, 1, `${where}: once`)
  }
  const now = onB.get('now')![0]! - killedAt
  const later = onB.get('later')![0]! - killedAt
  t.ok(now >= deadAfter - heartbeat && now <= deadAfter + heartbeat + slack, `no will delay: ${now} ms after the kill (--cluster-dead-after ${deadAfter})`)
  t.ok(later >= 2000 - heartbeat && later <= 2000 + deadAfter + heartbeat + slack, `will delay 2 s: ${later} ms after the kill, counted from the death`)
  t.equal(adoptions(b).length + adoptions(c).length, 1, 'exactly one survivor adopted node-a')
  t.equal([...adoptions(b), ...adoptions(c)][0]?.node, 'node-a')
})

t.test('a node restarted with its id before --cluster-dead-after publishes its wills itself, once; no survivor adopts it', { skip, timeout: 90_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const dir = mkdtempSync(join(tmpdir(), 'culex-dead-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const deadAfter = 6000
  const [a, b] = await Promise.all([node(t, server.url, 'node-a', deadAfter, dir), node(t, server.url, 'node-b', deadAfter, dir)])
  const onB = await watch(t, b.port, 'watch-b')
  await withWill(t, a.port, 'w', 0)
  await sleep(300)
  const killedAt = Date.now()
  await a.stop('SIGKILL')
  await a.restart()
  t.ok(Date.now() - killedAt < deadAfter, `restarted in ${Date.now() - killedAt} ms`)
  for (const end = Date.now() + 10_000; Date.now() < end && !onB.has('w');) await sleep(50)
  t.equal(onB.get('w')?.length, 1, 'the restarted node published the will')
  // past the detection time of the first death: nobody claims a node that is alive again
  await sleep(Math.max(0, killedAt + deadAfter + 2000 - Date.now()))
  t.equal(onB.get('w')?.length, 1, 'once')
  t.equal(adoptions(b).length, 0, 'node-b adopted nothing')
  t.equal(adoptions(a).length, 0)
})
