/**
 * A bridge's outbound side is a persistent session in culex's own store: QoS 1 messages
 * culex acknowledged while the remote (a real Mosquitto) is down survive a kill -9 of culex
 * and reach the remote once both are back. The local session's id is reserved, and it
 * passes the password file and the ACL. The hook guard in process.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from '@culex/client'
import type { BrokerHooks, Client as EngineClient, StoredMessage } from '@culex/broker'
import type { ConnectPacket, PublishPacket, Subscription } from '@culex/packet'
import { hashPassword } from '../src/passwd.ts'
import { bridgeAccess, bridgeClientId, guardBridgeSessions } from '../src/bridge-local.ts'
import { startCulex, tempDir } from './helpers/culex.ts'
import { startMosquitto, mosquittoMissing, freePort } from './helpers/mosquitto.ts'
import { client, until } from './helpers/bridge.ts'

t.test('out: QoS 1 acknowledged by culex while Mosquitto is down survives kill -9 of culex; 0 lost once both are back', { skip: mosquittoMissing }, async (t) => {
  const N = 400
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  // the remote subscriber keeps a persistent session on Mosquitto (saved when it stops)
  const remoteSub = await client(t, murl, { clientId: 'remote-sub', clean: false, properties: { sessionExpiryInterval: 3600 } })
  const seen = new Map<number, number>()
  remoteSub.on('message', (m) => {
    if (!m.topic.startsWith('site/up/')) return
    const i = Number(m.payload.toString())
    seen.set(i, (seen.get(i) ?? 0) + 1)
  })
  await remoteSub.subscribe('site/up/#', { qos: 1 })
  await mosq.stop()

  const dir = tempDir(t)
  const file = join(dir, 'culex.json')
  writeFileSync(file, JSON.stringify({ bridges: [{ name: 'r', url: murl, reconnect: { initialDelay: 50, maxDelay: 300 }, topics: [{ pattern: 'up/#', direction: 'out', qos: 1, remotePrefix: 'site/' }] }] }))
  const port = await freePort()
  const args = ['--config', file, '--port', String(port), '--store', 'level', '--data-dir', join(dir, 'data')]
  let culex = await startCulex(t, args, { cwd: dir })
  const lurl = `mqtt://127.0.0.1:${port}`
  const pub = await connect(lurl, { reconnect: false })
  t.teardown(() => pub.end({ force: true }).catch(() => {}))
  const acked = new Set<number>()
  const traffic = (async () => {
    const inflight: Array<Promise<void>> = []
    for (let i = 0; i < N; i++) {
      inflight.push(pub.publish(`up/${i % 7}`, String(i), { qos: 1 }).then(() => { acked.add(i) }, () => {}))
      if (inflight.length >= 20) await inflight.shift()
    }
    await Promise.all(inflight)
  })()
  // kill while the traffic still flows: what culex acknowledged up to the kill counts
  await until(() => acked.size >= N / 2, 20_000, 'half of the traffic acknowledged')
  culex.proc.kill('SIGKILL')
  await culex.exited
  await traffic
  t.ok(acked.size >= N / 2 && acked.size <= N, `culex acknowledged ${acked.size} of ${N} before it was killed`)
  t.equal(seen.size, 0, 'nothing reached the remote while it was down')

  culex = await startCulex(t, args, { cwd: dir })
  await mosq.start()
  await until(() => [...acked].every(i => seen.has(i)), 30_000, `every acknowledged message at the remote (${seen.size}/${acked.size})`).catch(() => {})
  const missing = [...acked].filter(i => !seen.has(i))
  t.same(missing, [], `0 of the ${acked.size} acknowledged messages lost`)
  const dups = [...seen.values()].reduce((n, c) => n + c - 1, 0)
  t.comment(`${seen.size} distinct messages at the remote (${seen.size - acked.size} not acknowledged to the publisher before the kill), ${dups} duplicates`)
  t.ok(dups <= acked.size, `duplicates counted: ${dups}`)
  t.ok(culex.logs.some(l => l.bridge === 'r' && l.msg === 'bridge r: connected'), 'the restarted culex connected the bridge')

  // live traffic after the restart still goes out once
  const pub2 = await client(t, lurl)
  for (let i = 0; i < 20; i++) await pub2.publish('up/live', String(1000 + i), { qos: 1 })
  const live = (): number[] => [...seen.entries()].filter(([i]) => i >= 1000).map(([, c]) => c)
  await until(() => live().length === 20, 10_000, `the live messages (${JSON.stringify([...seen.entries()].filter(([i]) => i >= 1000))})`)
  await new Promise((resolve) => setTimeout(resolve, 200)) // room for a duplicate to show up
  t.same(live().filter(c => c !== 1), [], 'live messages arrive once')
})

t.test('out: culex killed (SIGKILL) while messages are with a live remote; 0 lost after the restart', { skip: mosquittoMissing }, async (t) => {
  const N = 600
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  const remoteSub = await client(t, murl, { clientId: 'remote-sub2', clean: false, properties: { sessionExpiryInterval: 3600 } })
  const seen = new Map<number, number>()
  remoteSub.on('message', (m) => {
    const i = Number(m.payload.toString())
    seen.set(i, (seen.get(i) ?? 0) + 1)
  })
  await remoteSub.subscribe('site/up/#', { qos: 1 })
  const dir = tempDir(t)
  writeFileSync(join(dir, 'culex.json'), JSON.stringify({ bridges: [{ name: 'r', url: murl, reconnect: { initialDelay: 50, maxDelay: 300 }, topics: [{ pattern: 'up/#', direction: 'out', qos: 1, remotePrefix: 'site/' }] }] }))
  const port = await freePort()
  const args = ['--config', 'culex.json', '--port', String(port), '--store', 'level', '--data-dir', 'data']
  let culex = await startCulex(t, args, { cwd: dir })
  await until(() => culex.logs.some(l => l.msg === 'bridge r: connected'), 10_000, 'the bridge to connect')
  const pub = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false })
  t.teardown(() => pub.end({ force: true }).catch(() => {}))
  const acked = new Set<number>()
  const traffic = (async () => {
    const inflight: Array<Promise<void>> = []
    for (let i = 0; i < N; i++) {
      inflight.push(pub.publish(`up/${i % 3}`, String(i), { qos: 1 }).then(() => { acked.add(i) }, () => {}))
      if (inflight.length >= 50) await inflight.shift()
    }
    await Promise.all(inflight)
  })()
  await until(() => seen.size >= N / 4, 20_000, 'a quarter of the traffic at the remote')
  culex.proc.kill('SIGKILL')
  await culex.exited
  const atKill = seen.size
  await traffic
  culex = await startCulex(t, args, { cwd: dir })
  await until(() => [...acked].every(i => seen.has(i)), 30_000, `every acknowledged message at the remote (${seen.size}/${acked.size})`).catch(() => {})
  t.same([...acked].filter(i => !seen.has(i)), [], `0 of the ${acked.size} acknowledged messages lost (${atKill} had arrived when culex was killed)`)
  const dups = [...seen.values()].reduce((n, c) => n + c - 1, 0)
  t.comment(`${seen.size} distinct at the remote, ${dups} duplicates (resent after the restart)`)
  t.ok(acked.size > 0 && atKill > 0, 'the kill came in the middle of the traffic')
})

t.test('out: the local session passes the password file and the ACL; its client id is refused to others', { skip: mosquittoMissing }, async (t) => {
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  const remote = await client(t, murl)
  const remoteGot: string[] = []
  remote.on('message', (m) => { remoteGot.push(`${m.topic} ${m.payload.toString()}`) })
  await remote.subscribe('site/#', { qos: 1 })

  const dir = tempDir(t)
  writeFileSync(join(dir, 'passwd'), `alice:${hashPassword('wonder')}\n`)
  // alice may only write up/#; nobody may read it (the bridge still must)
  writeFileSync(join(dir, 'acl'), 'user alice\ntopic write up/#\ntopic read hq/#\n')
  writeFileSync(join(dir, 'culex.json'), JSON.stringify({ bridges: [{ name: 'r', url: murl, reconnect: { initialDelay: 50, maxDelay: 300 }, topics: [{ pattern: 'up/#', direction: 'out', qos: 1, remotePrefix: 'site/' }, { pattern: 'down/#', direction: 'in', qos: 1, localPrefix: 'hq/' }] }] }))
  const culex = await startCulex(t, ['--config', 'culex.json', '--password-file', 'passwd', '--acl-file', 'acl'], { cwd: dir })
  const lurl = `mqtt://127.0.0.1:${culex.ports.mqtt}`

  const impostor = await connect(lurl, { clientId: bridgeClientId('r'), username: 'alice', password: 'wonder', reconnect: false }).then(() => 0, (err: { reasonCode?: number }) => err.reasonCode)
  t.equal(impostor, 0x85, 'a client using the bridge\'s local id is refused (0x85), credentials or not')

  const alice = await client(t, lurl, { username: 'alice', password: 'wonder' })
  const aliceGot: string[] = []
  alice.on('message', (m) => { aliceGot.push(`${m.topic} ${m.payload.toString()}`) })
  await alice.subscribe('hq/#', { qos: 1 })
  await until(() => culex.logs.some(l => l.msg === 'bridge r: connected'), 10_000, 'the bridge to connect')
  await alice.publish('up/1', 'a', { qos: 1 })
  await until(() => remoteGot.includes('site/up/1 a'), 10_000, 'up/1 at the remote')
  t.pass('a message no local user may read still goes out over the bridge')
  for (let i = 0; !aliceGot.includes('hq/down/x b'); i++) {
    if (i > 100) throw new Error('hq/down/x never arrived')
    await remote.publish('down/x', 'b', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.pass('in: the bridge publishes locally although no local user may write hq/#')
})

t.test('guardBridgeSessions: the bridge ids pass every hook, are refused to other connections, others are asked as before', async (t) => {
  const access = bridgeAccess([{ name: 'b' } as never])
  const id = bridgeClientId('b')
  const no = (): false => false
  const wrapped = guardBridgeSessions<BrokerHooks>({
    authenticate: no,
    authorizePublish: no,
    authorizeSubscribe: no,
    authorizeRead: no,
    authorizeReadFilter: no,
    authorizeForward: () => null
  }, access)
  const mk = (clientId: string): EngineClient => ({ id: clientId, username: undefined, protocolVersion: 5, info: {}, connected: true, keepalive: 0, close () {} }) as unknown as EngineClient
  const pipe = mk(id)
  access.trusted.add(pipe)
  const other = mk('x')
  const connect = (clientId: string): ConnectPacket => ({ cmd: 'connect', clientId, protocolVersion: 5, clean: false, keepalive: 0 }) as ConnectPacket
  const pub = { cmd: 'publish', topic: 'a', payload: Buffer.alloc(0), qos: 1, dup: false, retain: false } as PublishPacket
  const sub = { topic: 'a/#', qos: 1 } as Subscription
  const msg = { topic: 'a', payload: Buffer.alloc(0), qos: 1, retain: false } as StoredMessage

  t.equal(wrapped.preConnect!(pipe, connect(id)), true, 'the pipe may use its id')
  t.same(wrapped.preConnect!(mk(id), connect(id)), { reasonCode: 0x85, reasonString: 'client identifier reserved for a bridge' }, 'another connection may not')
  t.equal(wrapped.preConnect!(other, connect('x')), true, 'no preConnect hook before: others pass')
  t.equal(wrapped.authenticate!(pipe, undefined, undefined), true)
  t.equal(wrapped.authenticate!(other, undefined, undefined), false, 'others are still asked')
  t.equal(wrapped.authorizePublish!(pipe, pub), true)
  t.equal(wrapped.authorizePublish!(other, pub), false)
  t.equal(wrapped.authorizeSubscribe!(pipe, sub), true)
  t.equal(wrapped.authorizeSubscribe!(other, sub), false)
  t.equal(wrapped.authorizeRead!(mk(id), 'a'), true, 'reads of the session go by its id (also offline, for queueing)')
  t.equal(wrapped.authorizeRead!(other, 'a'), false)
  t.equal(wrapped.authorizeReadFilter!(pipe, 'a/#'), true)
  t.equal(wrapped.authorizeReadFilter!(other, 'a/#'), false)
  t.equal(wrapped.authorizeForward!(pipe, msg), msg)
  t.equal(wrapped.authorizeForward!(other, msg), null)

  const pre = guardBridgeSessions<BrokerHooks>({ preConnect: () => ({ reasonCode: 0x9F }) }, access)
  t.same(pre.preConnect!(other, connect('x')), { reasonCode: 0x9F }, 'an existing preConnect still answers for others')
  t.same(Object.keys(pre).sort(), ['preConnect'], 'hook kinds that did not exist stay absent')
  const none = {}
  t.equal(guardBridgeSessions(none, bridgeAccess([])), none, 'without bridges the hooks are untouched')
})
