// The default level store (--data-dir) through the real culex process: retained messages and
// a persistent session's queued QoS 1 messages survive a restart, after SIGTERM and after
// SIGKILL. Skipped (a tap skip with the reason) when @culex/store-level is not built.
// These tests spawn dist/cli.js: they do not count toward this package's coverage.
import t from 'tap'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { missing, startRedis, within } from '@culex/test-kit'
import { startCulex, tempDir } from './helpers/culex.ts'

let levelAvailable = true
try {
  const mod = await import('@culex/store-level') as Record<string, unknown>
  levelAvailable = typeof mod.LevelStore === 'function'
} catch {
  levelAvailable = false
}
const levelSkip = levelAvailable ? false : '@culex/store-level is not built (npm run build -w @culex/store-level)'

interface Tap {
  teardown: (fn: () => unknown) => void
  ok: (v: unknown, m: string) => void
  equal: (a: unknown, b: unknown, m: string) => void
  same: (a: unknown, b: unknown, m: string) => void
}

async function survives (t: Tap, signal: 'SIGTERM' | 'SIGKILL', dir: string, args: string[]): Promise<void> {
  const first = await startCulex(t, args, { cwd: dir })
  const url1 = `mqtt://127.0.0.1:${first.ports.mqtt}`
  const sub = await mqtt.connectAsync(url1, { clientId: `persist-${signal}`, clean: false, reconnectPeriod: 0 })
  await sub.subscribeAsync('queue/#', { qos: 1 })
  await sub.endAsync()
  const pub = await mqtt.connectAsync(url1, { reconnectPeriod: 0 })
  await pub.publishAsync('retained/a', 'kept', { qos: 1, retain: true })
  for (let i = 0; i < 5; i++) await pub.publishAsync('queue/x', `m${i}`, { qos: 1 }) // acked: must survive
  pub.end(true)
  first.proc.kill(signal)
  const exit = await first.exited
  t.ok(signal === 'SIGKILL' ? exit.signal === 'SIGKILL' : exit.code === 0, `first process ended by ${signal}`)

  const second = await startCulex(t, args, { cwd: dir })
  const url2 = `mqtt://127.0.0.1:${second.ports.mqtt}`
  const got: string[] = []
  const back = mqtt.connect(url2, { clientId: `persist-${signal}`, clean: false, reconnectPeriod: 0 })
  t.teardown(() => { back.end(true) })
  back.on('message', (_topic, payload) => got.push(payload.toString()))
  await new Promise<void>((resolve, reject) => { back.once('connect', (ack) => { t.equal(ack.sessionPresent, true, 'session present after restart'); resolve() }); back.once('error', reject) })
  const deadline = Date.now() + 5000
  while (got.length < 5 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  t.same(got, ['m0', 'm1', 'm2', 'm3', 'm4'], 'every acknowledged QoS 1 message delivered once, in order')
  const reader = await mqtt.connectAsync(url2, { reconnectPeriod: 0 })
  t.teardown(() => { reader.end(true) })
  const retained = new Promise<string>(resolve => reader.once('message', (_t, p) => resolve(p.toString())))
  await reader.subscribeAsync('retained/#', { qos: 1 })
  t.equal(await retained, 'kept', 'retained message survived')
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`level store survives a restart after ${signal}`, { skip: levelSkip }, async t => {
    const dir = tempDir(t)
    await survives(t, signal, dir, ['--store', 'level', '--data-dir', join(dir, 'data')])
  })
}

// --no-fsync gives up power-loss safety only: the written batch is in the OS page cache, so a
// killed culex process still loses nothing it acknowledged
t.test('level store with --no-fsync survives SIGKILL', { skip: levelSkip }, async t => {
  const dir = tempDir(t)
  await survives(t, 'SIGKILL', dir, ['--store', 'level', '--data-dir', join(dir, 'data'), '--no-fsync'])
})

t.test('wills of clients connected when culex was killed are published at the next start', { skip: levelSkip }, async t => {
  const dir = tempDir(t)
  const args = ['--store', 'level', '--data-dir', join(dir, 'data')]
  const first = await startCulex(t, args, { cwd: dir })
  const url1 = `mqtt://127.0.0.1:${first.ports.mqtt}`
  const watcher = await mqtt.connectAsync(url1, { clientId: 'will-watcher', clean: false, reconnectPeriod: 0 })
  await watcher.subscribeAsync('wills/#', { qos: 1 })
  await watcher.endAsync()
  const dying = await mqtt.connectAsync(url1, { clientId: 'dying', reconnectPeriod: 0, will: { topic: 'wills/dying', payload: Buffer.from('gone'), qos: 1, retain: false } })
  t.teardown(() => { dying.end(true) })
  first.proc.kill('SIGKILL')
  await first.exited

  const second = await startCulex(t, args, { cwd: dir })
  const url2 = `mqtt://127.0.0.1:${second.ports.mqtt}`
  const got: string[] = []
  const back = mqtt.connect(url2, { clientId: 'will-watcher', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { back.end(true) })
  back.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`))
  const deadline = Date.now() + 5000
  while (got.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  t.same(got, ['wills/dying=gone'], 'the will of the connection that died with the broker')
})

t.test('messages a connected persistent subscriber had not acknowledged survive SIGKILL', { skip: levelSkip }, async t => {
  const dir = tempDir(t)
  const args = ['--store', 'level', '--data-dir', join(dir, 'data')]
  const first = await startCulex(t, args, { cwd: dir })
  const url1 = `mqtt://127.0.0.1:${first.ports.mqtt}`
  const received: string[] = []
  // a 5.0 subscriber that receives but never acknowledges (MQTT.js sends no PUBACK until done())
  const v5 = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 }
  const slow = await mqtt.connectAsync(url1, { ...v5, clientId: 'slow-sub', customHandleAcks: (_topic, message, _packet, _done) => { received.push(message.toString()) } })
  t.teardown(() => { slow.end(true) })
  await slow.subscribeAsync('live/#', { qos: 1 })
  const pub = await mqtt.connectAsync(url1, { reconnectPeriod: 0 })
  for (let i = 0; i < 5; i++) await pub.publishAsync('live/x', `l${i}`, { qos: 1 }) // acknowledged to the publisher
  pub.end(true)
  // MQTT.js hands over one message at a time and waits for done() before the next, so the
  // first arrives and the rest stay in flight on the socket: none is acknowledged
  const deadline1 = Date.now() + 3000
  while (received.length < 1 && Date.now() < deadline1) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(received[0], 'l0', 'the connected subscriber is receiving, acknowledging nothing')
  first.proc.kill('SIGKILL')
  await first.exited

  const second = await startCulex(t, args, { cwd: dir })
  const got: string[] = []
  const back = mqtt.connect(`mqtt://127.0.0.1:${second.ports.mqtt}`, { ...v5, clientId: 'slow-sub' })
  t.teardown(() => { back.end(true) })
  back.on('message', (_topic, payload) => got.push(payload.toString()))
  const deadline2 = Date.now() + 5000
  while (got.length < 5 && Date.now() < deadline2) await new Promise(resolve => setTimeout(resolve, 50))
  t.same(got, ['l0', 'l1', 'l2', 'l3', 'l4'], 'every one delivered again after the restart, in order')
})

let redisSkip = missing('redis-server')
try {
  const mod = await import('@culex/store-redis') as Record<string, unknown>
  if (typeof mod.RedisStore !== 'function') redisSkip ||= '@culex/store-redis exports no RedisStore'
} catch {
  redisSkip ||= '@culex/store-redis is not built (npm run build -w @culex/store-redis)'
}
{
  // the store's own durability is not under test here: no append-only file
  const startRedisFor = async (t: Tap): Promise<number> => (await startRedis(['--appendonly', 'no'], { teardown: t })).port

  t.test('--store redis://: a restart of culex after SIGKILL loses nothing acknowledged', { skip: redisSkip }, async t => {
    const dir = tempDir(t)
    const port = await startRedisFor(t)
    await survives(t, 'SIGKILL', dir, ['--store', `redis://127.0.0.1:${port}`])
  })

  t.test('--cluster: two culex nodes on one Redis route publishes and take over sessions', { skip: redisSkip }, async t => {
    const dir = tempDir(t)
    const port = await startRedisFor(t)
    const args = (id: string): string[] => ['--store', `redis://127.0.0.1:${port}`, '--cluster', '--node-id', id]
    const a = await startCulex(t, args('node-a'), { cwd: dir })
    const b = await startCulex(t, args('node-b'), { cwd: dir })
    t.ok(a.logs.some(l => l.cluster === true) && b.logs.some(l => l.cluster === true), 'both nodes report cluster mode')
    const onA = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.ports.mqtt}`, { clientId: 'same-id', reconnectPeriod: 0, protocolVersion: 5 })
    t.teardown(() => { onA.end(true) })
    await onA.subscribeAsync('cluster/#', { qos: 1 })
    const got = new Promise<string>(resolve => onA.once('message', (_t, p) => resolve(p.toString())))
    const pubB = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.ports.mqtt}`, { reconnectPeriod: 0 })
    t.teardown(() => { pubB.end(true) })
    await new Promise(resolve => setTimeout(resolve, 300)) // subscription news reaches node B
    await pubB.publishAsync('cluster/x', 'from-b', { qos: 1 })
    t.equal(await within(got, 5000, 'timeout'), 'from-b', 'published on B, delivered on A')
    const kicked = new Promise<number | undefined>(resolve => onA.once('disconnect', p => resolve(p.reasonCode)))
    const onB = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.ports.mqtt}`, { clientId: 'same-id', reconnectPeriod: 0, protocolVersion: 5 })
    t.teardown(() => { onB.end(true) })
    t.equal(await within(kicked, 5000, -1), 0x8E, 'same client id on B: A\'s connection gets DISCONNECT 0x8E')
  })
}
