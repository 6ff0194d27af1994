/**
 * Persistence through Culex stores given as Aedes' `persistence` option: a MemoryStore for
 * offline sessions within one run, and a real LevelDB LevelStore across a broker restart
 * (subscriptions, queued QoS 1 messages and retained messages survive).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryStore } from '@culex/broker'
import { LevelStore } from '@culex/store-level'
import t from 'tap'
import { connect, nextMessage, startBroker, stopBroker } from './helpers/index.ts'

t.test('MemoryStore: an offline persistent session gets its QoS 1 messages', async (t) => {
  const persistence = new MemoryStore()
  t.teardown(() => persistence.close())
  const { url } = await startBroker(t, { persistence })
  const sub = await connect(t, url, { clientId: 'mem-sub', clean: false })
  await sub.subscribeAsync('mem/#', { qos: 1 })
  await new Promise<void>((resolve) => { sub.end(false, {}, () => resolve()) })
  const pub = await connect(t, url, { clientId: 'mem-pub' })
  await pub.publishAsync('mem/a', 'queued', { qos: 1 })
  t.equal((await persistence.getSession('mem-sub'))?.subscriptions[0]?.topic, 'mem/#', 'the session is in the given store')

  const { default: mqtt } = await import('mqtt')
  const back = mqtt.connect(url, { clientId: 'mem-sub', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { back.end(true) })
  const [connack, msg] = await Promise.all([
    new Promise<{ sessionPresent: boolean }>((resolve) => back.once('connect', resolve)),
    nextMessage(back)
  ])
  t.equal(connack.sessionPresent, true)
  t.equal(msg.payload.toString(), 'queued')
  t.equal(msg.packet.qos, 1)
})

t.test('LevelStore: sessions, queued and retained messages survive a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'culex-aedes-level-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'db')

  const store1 = new LevelStore({ path })
  const first = await startBroker(t, { persistence: store1, id: 'node-a' })
  const sub = await connect(t, first.url, { clientId: 'lvl-sub', clean: false })
  await sub.subscribeAsync('lvl/#', { qos: 1 })
  await new Promise<void>((resolve) => { sub.end(false, {}, () => resolve()) })
  const pub = await connect(t, first.url, { clientId: 'lvl-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync('lvl/q', `m${i}`, { qos: 1 })
  await pub.publishAsync('lvl/retained', 'kept', { qos: 1, retain: true })
  await new Promise<void>((resolve) => { pub.end(false, {}, () => resolve()) })
  await stopBroker(first)
  await store1.close()

  const store2 = new LevelStore({ path })
  t.teardown(() => store2.close())
  const second = await startBroker(t, { persistence: store2, id: 'node-a' })
  const { default: mqtt } = await import('mqtt')
  const back = mqtt.connect(second.url, { clientId: 'lvl-sub', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { back.end(true) })
  const got: string[] = []
  const all = new Promise<void>((resolve) => {
    back.on('message', (topic, payload) => {
      got.push(`${topic}=${payload.toString()}`)
      if (got.length === 6) resolve()
    })
  })
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => back.once('connect', resolve))
  t.equal(connack.sessionPresent, true, 'the session was restored from LevelDB')
  await all
  t.same(got, ['lvl/q=m0', 'lvl/q=m1', 'lvl/q=m2', 'lvl/q=m3', 'lvl/q=m4', 'lvl/retained=kept'], 'every acknowledged message arrives, in order')

  const fresh = await connect(t, second.url, { clientId: 'lvl-fresh' })
  const retained = nextMessage(fresh)
  await fresh.subscribeAsync('lvl/retained', { qos: 1 })
  const r = await retained
  t.equal(r.payload.toString(), 'kept', 'the retained message survived')
  t.equal(r.packet.retain, true)
})
