import t from 'tap'
import { Broker, listSessions, type Client } from '../src/index.ts'
import { connect, delay, setup, TestClient } from './helper.ts'
import { FakeClock } from './fake-clock.ts'

t.test('[MQTT-3.1.3-8] 3.1.1 zero-length client id with clean session 0 is rejected (return code 2)', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { clientId: '', clean: false })
  t.equal(c.connack.returnCode, 2)
  await c.closed()
  t.pass('closed')
})

t.test('[MQTT-3.1.3-6] 3.1.1 zero-length client id with clean session 1 gets an id', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { clientId: '', clean: true })
  t.equal(c.connack.returnCode, 0)
  t.equal(broker.stats.clientsConnected, 1)
  const id = listSessions(broker).sessions[0]!.clientId
  t.match(id, /^culex-/)
  t.equal(broker.client(id)?.id, id)
})

t.test('[MQTT-3.2.2-16] 5.0 zero-length client id gets an Assigned Client Identifier', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5, clientId: '', clean: false, properties: { sessionExpiryInterval: 10 } })
  t.equal(c.connack.reasonCode, 0)
  t.match(c.connack.properties.assignedClientIdentifier, /^culex-/)
})

t.test('MQTT 3.1 requires a client id (return code 2)', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 3, clientId: '' })
  t.equal(c.connack.returnCode, 2)
})

t.test('MQTT 3.1 (MQIsdp) clients connect and exchange messages', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { protocolVersion: 3, clientId: 'old' })
  t.equal(a.connack.returnCode, 0)
  await a.subscribe('x', 1)
  const b = await connect(t, broker, { protocolVersion: 4 })
  b.publish('x', 'hi', 1)
  const m = await a.next('publish')
  t.equal(m.payload.toString(), 'hi')
})

t.test('[MQTT-3.2.2-3] CONNACK properties advertise what the broker supports (5.0)', async (t) => {
  const broker = setup(t, { limits: { maxInflight: 50, topicAliasMaximum: 5, maxPacketSize: 1000 } })
  const c = await connect(t, broker, { protocolVersion: 5 })
  const p = c.connack.properties
  t.equal(p.receiveMaximum, 50)
  t.equal(p.topicAliasMaximum, 5)
  t.equal(p.maximumPacketSize, 1000)
  t.equal(p.retainAvailable, true)
  t.equal(p.wildcardSubscriptionAvailable, true)
  t.equal(p.subscriptionIdentifiersAvailable, true)
  t.equal(p.sharedSubscriptionAvailable, true)
})

t.test('[MQTT-3.1.4-3] session takeover closes the older connection; 5.0 gets DISCONNECT 0x8E', async (t) => {
  const broker = setup(t)
  const errors: string[] = []
  broker.on('clientError', (_c, e) => errors.push(e.code))
  const first = await connect(t, broker, { protocolVersion: 5, clientId: 'same' })
  const second = await connect(t, broker, { protocolVersion: 5, clientId: 'same' })
  const d = await first.next('disconnect')
  t.equal(d.reasonCode, 0x8E)
  await first.closed()
  t.equal(second.connack.reasonCode, 0)
  t.ok(errors.includes('BROKER_ERR_SESSION_TAKEN_OVER'))
  t.equal(broker.client('same') !== undefined, true)
  // the new connection works
  await second.subscribe('t', 0)
  second.publish('t', 'ok')
  t.equal((await second.next('publish')).payload.toString(), 'ok')
})

t.test('[MQTT-3.1.4-3] takeover in 3.1.1 closes the old socket without a packet', async (t) => {
  const broker = setup(t)
  const first = await connect(t, broker, { clientId: 'same' })
  await connect(t, broker, { clientId: 'same' })
  await first.closed()
  t.notOk(first.received.some((p) => p.cmd === 'disconnect'))
})

t.test('[MQTT-3.1.0-1] a PUBLISH before CONNECT closes the connection', async (t) => {
  const broker = setup(t)
  const c = new TestClient(broker, 4)
  t.teardown(() => c.stream.destroy())
  c.publish('a', 'x')
  await c.closed()
  t.equal(c.received.length, 0, 'nothing sent back')
})

t.test('[MQTT-3.1.0-2] a second CONNECT is a protocol error (5.0: DISCONNECT 0x82)', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'again', clean: true, keepalive: 0 })
  t.equal((await c.next('disconnect')).reasonCode, 0x82)
  await c.closed()
  const v4 = await connect(t, broker, {})
  v4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'again', clean: true, keepalive: 0 })
  await v4.closed()
  t.pass('3.1.1 closed')
})

t.test('connect timeout closes a socket that never sends CONNECT', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, limits: { connectTimeout: 100 } })
  const codes: string[] = []
  broker.on('clientError', (_c, e) => codes.push(e.code))
  const c = new TestClient(broker, 4)
  t.teardown(() => c.stream.destroy())
  await clock.tick(99)
  t.same([c.ended, codes], [false, []], 'open at 99 ms')
  await clock.tick(1)
  await c.closed()
  t.same(codes, ['BROKER_ERR_CONNECT_TIMEOUT'], 'closed at 100 ms')
})

t.test('[MQTT-3.1.2-24] keepalive: no packet for 1.5 × keepalive closes (5.0: DISCONNECT 0x8D)', async (t) => {
  const clock = new FakeClock()
  // a short connect timeout makes the sweep fine (every 50 ms): the boundary is exact
  const broker = setup(t, { clock, limits: { connectTimeout: 100 } })
  const c = await connect(t, broker, { protocolVersion: 5, keepalive: 1 })
  await clock.tick(1499)
  t.ok(await c.nothing(0, 'disconnect'), 'open after 1499 ms of silence')
  await clock.tick(1)
  const d = await c.next('disconnect')
  t.equal(d.reasonCode, 0x8D, 'DISCONNECT 0x8D after 1500 ms')
  await c.closed()
})

t.test('keepalive: with the default sweep (every second) a silent client is closed within 1 s after 1.5 × keepalive', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const c = await connect(t, broker, { keepalive: 2 })
  await clock.tick(2999)
  t.equal(c.ended, false, 'open after 2999 ms')
  await clock.tick(1001)
  t.equal(c.ended, true, 'closed by 4000 ms')
})

t.test('[MQTT-3.12.4-1] PINGREQ gets PINGRESP and keeps the connection alive', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock, limits: { connectTimeout: 100 } })
  const c = await connect(t, broker, { keepalive: 1 })
  for (let i = 0; i < 4; i++) {
    await clock.tick(1499)
    c.send({ cmd: 'pingreq' })
    await c.next('pingresp')
  }
  t.equal(c.ended, false, '4 × 1499 ms, a PINGREQ each time: open')
  await clock.tick(1499)
  t.equal(c.ended, false, 'open after 1499 ms of silence')
  await clock.tick(50)
  t.equal(c.ended, true, 'closed at the first sweep (every 50 ms) after 1500 ms of silence')
})

t.test('[MQTT-3.2.2-21] maxKeepalive: 5.0 gets Server Keep Alive; 3.x above it is refused', async (t) => {
  const broker = setup(t, { limits: { maxKeepalive: 30 } })
  const c = await connect(t, broker, { protocolVersion: 5, keepalive: 100 })
  t.equal(c.connack.properties.serverKeepAlive, 30)
  const z = await connect(t, broker, { protocolVersion: 5, keepalive: 0 })
  t.equal(z.connack.properties.serverKeepAlive, 30, 'keepalive 0 is capped too')
  const ok = await connect(t, broker, { protocolVersion: 5, keepalive: 10 })
  t.equal(ok.connack.properties?.serverKeepAlive, undefined)
  t.equal(listSessions(broker).sessions.filter((s) => s.keepalive === 10).length, 1, 'the client keeps its own keepalive')
  const v4 = await connect(t, broker, { keepalive: 100 })
  t.equal(v4.connack.returnCode, 2, '3.1.1 cannot be told: refused like Mosquitto')
  const v4ok = await connect(t, broker, { keepalive: 20 })
  t.equal(v4ok.connack.returnCode, 0)
})

t.test('authenticate hook: refusal gives return code 4 / reason 0x86; acceptance connects', async (t) => {
  const seen: Array<[string | undefined, string | undefined]> = []
  const broker = setup(t, {
    authenticate: async (_client: Client, username, password) => {
      seen.push([username, password?.toString()])
      if (username === 'banned') return { reasonCode: 0x8A, reasonString: 'banned' }
      return username === 'u' && password?.toString() === 'p'
    }
  })
  const bad4 = await connect(t, broker, { username: 'u', password: Buffer.from('x') })
  t.equal(bad4.connack.returnCode, 4)
  const bad5 = await connect(t, broker, { protocolVersion: 5, username: 'u', password: Buffer.from('x') })
  t.equal(bad5.connack.reasonCode, 0x86)
  const banned = await connect(t, broker, { protocolVersion: 5, username: 'banned', password: Buffer.from('x') })
  t.equal(banned.connack.reasonCode, 0x8A)
  t.equal(banned.connack.properties.reasonString, 'banned')
  const good = await connect(t, broker, { username: 'u', password: Buffer.from('p') })
  t.equal(good.connack.returnCode, 0)
  t.same(seen[0], ['u', 'x'])
})

t.test('preConnect hook runs first and can refuse', async (t) => {
  const order: string[] = []
  const broker = setup(t, {
    preConnect: (c) => { order.push('pre'); return c.info.remoteAddress === '127.0.0.1' && order.length < 2 },
    authenticate: () => { order.push('auth'); return true }
  })
  const ok = await connect(t, broker, {})
  t.equal(ok.connack.returnCode, 0)
  const no = await connect(t, broker, { protocolVersion: 5 })
  t.equal(no.connack.reasonCode, 0x87)
  t.same(order, ['pre', 'auth', 'pre'])
})

t.test('a throwing hook closes only that client and reports BROKER_ERR_HOOK', async (t) => {
  const broker = setup(t, { authenticate: () => { throw new Error('boom') } })
  const errors: string[] = []
  broker.on('clientError', (_c, e) => errors.push(e.code))
  const c = new TestClient(broker, 4)
  t.teardown(() => c.stream.destroy())
  c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'x', clean: true, keepalive: 0 })
  t.equal((await c.next('connack')).returnCode, 3, 'CONNACK 3 server unavailable')
  await c.closed()
  t.same(errors, ['BROKER_ERR_HOOK'])
})

t.test('broker.publish validates its input', async (t) => {
  const broker = setup(t)
  await t.rejects(broker.publish({ topic: 'a/+', payload: 'x' }), { code: 'BROKER_ERR_TOPIC_INVALID' })
  await t.rejects(broker.publish({ topic: 'a', payload: 'x', qos: 3 as never }), TypeError)
})

t.test('maxConnections: extra CONNECT gets 0x97 / return code 3', async (t) => {
  const broker = setup(t, { limits: { maxConnections: 1 } })
  const a = await connect(t, broker, {})
  t.equal(a.connack.returnCode, 0)
  const b = await connect(t, broker, { protocolVersion: 5 })
  t.equal(b.connack.reasonCode, 0x97)
  const c = await connect(t, broker, {})
  t.equal(c.connack.returnCode, 3)
})

t.test('events: client and clientDisconnect', async (t) => {
  const broker = setup(t)
  const events: string[] = []
  broker.on('client', (c) => events.push('client ' + c.id))
  broker.on('clientDisconnect', (c, rc) => events.push(`gone ${c.id} ${rc}`))
  const c = await connect(t, broker, { clientId: 'ev' })
  c.disconnect()
  await c.closed()
  await delay(10)
  t.same(events, ['client ev', 'gone ev 0'])
})

t.test('broker.close(): 5.0 clients get DISCONNECT 0x8B; new streams are refused', async (t) => {
  const broker = new Broker({ sysInterval: 0 })
  const c5 = await connect(t, broker, { protocolVersion: 5 })
  const c4 = await connect(t, broker, {})
  await broker.close()
  t.equal((await c5.next('disconnect')).reasonCode, 0x8B)
  await c4.closed()
  t.equal(broker.closed, true)
  const late = new TestClient(broker, 4)
  await late.closed()
  await broker.close()
  await t.rejects(broker.publish({ topic: 'a', payload: 'x' }), { code: 'BROKER_ERR_CLOSED' })
})

t.test('options: unknown or invalid limits throw', async (t) => {
  t.throws(() => new Broker({ limits: { nope: 1 } as never }), /limits.nope/)
  t.throws(() => new Broker({ limits: { maxInflight: -1 } }), /maxInflight/)
  t.throws(() => new Broker({ limits: { maxInflight: 0 } }), /maxInflight/)
  t.throws(() => new Broker({ limits: { topicAliasMaximum: 70000 } }), /topicAliasMaximum/)
  t.throws(() => new Broker({ limits: { maxKeepalive: 70000 } }), /maxKeepalive/)
  t.throws(() => new Broker({ limits: { maxPacketSize: 10 } }), /maxPacketSize/)
  t.throws(() => new Broker({ limits: { connectTimeout: 'x' as never } }), /connectTimeout/)
})
