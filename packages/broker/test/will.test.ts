import t from 'tap'
import { connect, setup } from './helper.ts'
import { describeSession } from '../src/index.ts'
import { FakeClock } from './fake-clock.ts'

const will = { topic: 'will', payload: Buffer.from('gone'), qos: 1, retain: false }

t.test('[MQTT-3.1.2-8] the will is published when the connection closes abnormally', async (t) => {
  const broker = setup(t)
  const w = await connect(t, broker, {})
  await w.subscribe('will', 1)
  const c = await connect(t, broker, { will })
  c.drop()
  const m = await w.next('publish')
  t.equal(m.payload.toString(), 'gone')
})

t.test('[MQTT-3.1.2-10] the will is discarded on a normal DISCONNECT', async (t) => {
  const broker = setup(t)
  const w = await connect(t, broker, {})
  await w.subscribe('will', 1)
  const c = await connect(t, broker, { clientId: 'willer', will })
  t.not(await broker.store.getWill('willer'), null, 'the will is stored while connected')
  c.disconnect()
  await c.closed()
  t.ok(await w.nothing(50, 'publish'))
  t.equal(await broker.store.getWill('willer'), null, 'and removed on a normal DISCONNECT')
})

t.test('DISCONNECT 0x04 (5.0) publishes the will', async (t) => {
  const broker = setup(t)
  const w = await connect(t, broker, {})
  await w.subscribe('will', 1)
  const c = await connect(t, broker, { protocolVersion: 5, will })
  c.disconnect({ cmd: 'disconnect', reasonCode: 0x04 })
  t.equal((await w.next('publish')).payload.toString(), 'gone')
})

t.test('a protocol violation publishes the will', async (t) => {
  const broker = setup(t)
  const w = await connect(t, broker, {})
  await w.subscribe('will', 0)
  const c = await connect(t, broker, { will })
  c.sendRaw([0x00, 0x00]) // packet type 0 is reserved
  t.equal((await w.next('publish')).payload.toString(), 'gone')
})

t.test('[MQTT-3.1.3-9] will delay: a reconnect within the delay cancels the will', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const w = await connect(t, broker, {})
  await w.subscribe('will', 0)
  const opts = { protocolVersion: 5 as const, clientId: 'wd', clean: false, properties: { sessionExpiryInterval: 60 }, will: { ...will, properties: { willDelayInterval: 1 } } }
  const c = await connect(t, broker, opts)
  c.drop()
  await clock.tick(999)
  await connect(t, broker, { ...opts, clean: false })
  await clock.tick(60_000)
  t.ok(await w.nothing(0, 'publish'), 'not published')
})

t.test('[MQTT-3.1.3-9] will delay: published after the delay, or at session end if sooner', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const w = await connect(t, broker, {})
  await w.subscribe('will', 0)
  const c = await connect(t, broker, { protocolVersion: 5, clientId: 'wd2', properties: { sessionExpiryInterval: 1 }, will: { ...will, properties: { willDelayInterval: 30, messageExpiryInterval: 60, contentType: 'text/plain' } } })
  c.drop()
  await clock.tick(999)
  t.ok(await w.nothing(0, 'publish'), 'not at 999 ms')
  t.equal(describeSession(broker, 'wd2') !== undefined, true, 'the session is still there at 999 ms')
  await clock.tick(1)
  const m = await w.next('publish')
  t.equal(m.payload.toString(), 'gone', 'at session expiry (1 s), not the 30 s delay')
  t.equal(describeSession(broker, 'wd2') !== undefined, false, 'with the session')
})

t.test('[MQTT-3.1.3-9] will delay shorter than the session: published at the delay, exactly', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const w = await connect(t, broker, {})
  await w.subscribe('will', 0)
  const c = await connect(t, broker, { protocolVersion: 5, clientId: 'wd3', properties: { sessionExpiryInterval: 60 }, will: { ...will, properties: { willDelayInterval: 2 } } })
  c.drop()
  await clock.tick(1999)
  t.ok(await w.nothing(0, 'publish'), 'not at 1999 ms')
  await clock.tick(1)
  t.equal((await w.next('publish')).payload.toString(), 'gone', 'at 2 s')
  t.equal(describeSession(broker, 'wd3') !== undefined, true, 'the session outlives its will')
})

t.test('will with delay 0 goes out at once for a persistent session; wills pass authorizePublish', async (t) => {
  let allowed = true
  const broker = setup(t, { authorizePublish: () => allowed })
  const w = await connect(t, broker, { protocolVersion: 5 })
  await w.subscribe('will', 0)
  const c = await connect(t, broker, { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 }, will: { ...will, properties: { userProperties: { a: 'b' }, responseTopic: 'rt', correlationData: Buffer.from('cd'), payloadFormatIndicator: true } } })
  c.drop()
  const m = await w.next('publish')
  t.same(m.properties.userProperties, { a: 'b' })
  t.equal(m.properties.responseTopic, 'rt')
  allowed = false
  const d = await connect(t, broker, { will })
  d.drop()
  t.ok(await w.nothing(50, 'publish'), 'refused will is not published')
})

t.test('session takeover publishes the old connection will (delay 0)', async (t) => {
  const broker = setup(t)
  const w = await connect(t, broker, {})
  await w.subscribe('will', 0)
  await connect(t, broker, { clientId: 'tk', will })
  await connect(t, broker, { clientId: 'tk' })
  t.equal((await w.next('publish')).payload.toString(), 'gone')
})

t.test('wills left in the store by a crashed run of the same node id are published at start', async (t) => {
  const { MemoryStore } = await import('../src/index.ts')
  const store = new MemoryStore()
  await store.putWill({ clientId: 'ghost', nodeId: 'node-1', topic: 'will', payload: Buffer.from('crashed'), qos: 0, retain: true })
  await store.putWill({ clientId: 'other', nodeId: 'node-2', topic: 'will', payload: Buffer.from('not mine'), qos: 0, retain: true })
  const broker = setup(t, { store, id: 'node-1' })
  await broker.ready()
  const retained = await store.matchRetained('will')
  t.same(retained.map((m) => m.payload.toString()), ['crashed'])
  t.equal(await store.getWill('ghost'), null, 'deleted once published')
  t.not(await store.getWill('other'), null, 'the will of another node is left alone')
})
