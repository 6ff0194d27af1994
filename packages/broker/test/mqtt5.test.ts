import t from 'tap'
import { connect, delay, setup } from './helper.ts'

t.test('[MQTT-3.3.2-6] message expiry: the interval is decremented when forwarded; expired messages are dropped from queues', async (t) => {
  const broker = setup(t)
  const live = await connect(t, broker, { protocolVersion: 5 })
  await live.subscribe('e', 1)
  const off = await connect(t, broker, { protocolVersion: 5, clientId: 'off', clean: false, properties: { sessionExpiryInterval: 60 } })
  await off.subscribe('e', 1)
  off.disconnect()
  await off.closed()
  const pub = await connect(t, broker, { protocolVersion: 5 })
  pub.publish('e', 'short', 1, false, { properties: { messageExpiryInterval: 1 } })
  pub.publish('e', 'long', 1, false, { properties: { messageExpiryInterval: 100 } })
  const m = await live.next('publish')
  t.equal(m.properties.messageExpiryInterval, 1)
  await delay(1100)
  const back = await connect(t, broker, { protocolVersion: 5, clientId: 'off', clean: false, properties: { sessionExpiryInterval: 60 } })
  const kept = await back.next('publish')
  t.equal(kept.payload.toString(), 'long', 'the expired one was dropped')
  t.ok(kept.properties.messageExpiryInterval <= 99, 'decremented by the time spent queued')
})

t.test('[MQTT-3.3.2-12] inbound topic aliases; alias 0 or above the maximum is DISCONNECT 0x94', async (t) => {
  const broker = setup(t, { limits: { topicAliasMaximum: 2 } })
  const sub = await connect(t, broker, {})
  await sub.subscribe('long/topic/name', 0)
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.publish('long/topic/name', 'first', 0, false, { properties: { topicAlias: 1 } })
  c.publish('', 'second', 0, false, { properties: { topicAlias: 1 } })
  t.equal((await sub.next('publish')).payload.toString(), 'first')
  const second = await sub.next('publish')
  t.equal(second.topic, 'long/topic/name')
  t.equal(second.payload.toString(), 'second')
  c.publish('x', 'bad', 0, false, { properties: { topicAlias: 3 } })
  t.equal((await c.next('disconnect')).reasonCode, 0x94)
  const d = await connect(t, broker, { protocolVersion: 5 })
  d.publish('', 'unknown', 0, false, { properties: { topicAlias: 2 } })
  t.equal((await d.next('disconnect')).reasonCode, 0x82)
})

t.test('outbound topic aliases: the broker assigns aliases to clients that allow them', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5, properties: { topicAliasMaximum: 1 } })
  await c.subscribe('#', 0)
  await broker.publish({ topic: 'a/b', payload: '1' })
  await broker.publish({ topic: 'a/b', payload: '2' })
  await broker.publish({ topic: 'c', payload: '3' })
  const m1 = await c.next('publish')
  const m2 = await c.next('publish')
  const m3 = await c.next('publish')
  t.equal(m1.topic, 'a/b')
  t.equal(m1.properties.topicAlias, 1)
  t.equal(m2.topic, '', 'alias only')
  t.equal(m2.properties.topicAlias, 1)
  t.equal(m3.topic, 'c', 'no alias left: full topic')
  t.equal(m3.properties?.topicAlias, undefined)
})

t.test('[MQTT-3.1.2-25] messages larger than the client Maximum Packet Size are not sent to it', async (t) => {
  const broker = setup(t)
  const small = await connect(t, broker, { protocolVersion: 5, properties: { maximumPacketSize: 50 } })
  await small.subscribe('m', 1)
  const big = await connect(t, broker, { protocolVersion: 5 })
  await big.subscribe('m', 1)
  await broker.publish({ topic: 'm', payload: Buffer.alloc(100), qos: 1 })
  await broker.publish({ topic: 'm', payload: 'tiny', qos: 0 })
  t.equal((await big.next('publish')).payload.length, 100)
  t.equal((await small.next('publish')).payload.toString(), 'tiny')
  t.ok(broker.stats.publishDropped >= 1)
})

t.test('[MQTT-3.2.2-15] a packet above the broker maximum gets DISCONNECT 0x95', async (t) => {
  const broker = setup(t, { limits: { maxPacketSize: 100 } })
  const other = await connect(t, broker, {})
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.publish('t', Buffer.alloc(200))
  t.equal((await c.next('disconnect')).reasonCode, 0x95)
  other.send({ cmd: 'pingreq' })
  t.ok(await other.next('pingresp'), 'others carry on')
})

t.test('[MQTT-3.3.2-20] request/response, user properties, content type and payload format are forwarded', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, { protocolVersion: 5 })
  await sub.subscribe('req', 0)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  const properties = { responseTopic: 'resp/1', correlationData: Buffer.from('id-1'), userProperties: { k: ['v1', 'v2'], z: 'y' }, contentType: 'application/json', payloadFormatIndicator: true }
  pub.publish('req', '{}', 0, false, { properties })
  const m = await sub.next('publish')
  t.equal(m.properties.responseTopic, 'resp/1')
  t.equal(m.properties.correlationData.toString(), 'id-1')
  t.same(m.properties.userProperties, { k: ['v1', 'v2'], z: 'y' })
  t.equal(m.properties.contentType, 'application/json')
  t.equal(m.properties.payloadFormatIndicator, true)
})

t.test('3.1.1 subscribers get 5.0 messages without properties', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, {})
  await sub.subscribe('p', 0)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  pub.publish('p', 'x', 0, false, { properties: { userProperties: { a: 'b' } } })
  const m = await sub.next('publish')
  t.equal(m.payload.toString(), 'x')
  t.equal(m.properties, undefined)
})

t.test('enhanced authentication: CONNECT → AUTH continue → success; re-authentication', async (t) => {
  const steps: string[] = []
  const broker = setup(t, {
    authenticateEnhanced: (_c, req) => {
      steps.push(`${req.step}:${req.data?.toString() ?? ''}`)
      if (req.step === 'connect') return { reasonCode: 0x18, data: Buffer.from('challenge') }
      if (req.data?.toString() === 'bad') return { reasonCode: 0x87, reasonString: 'no' }
      return { reasonCode: 0, data: Buffer.from('ok') }
    }
  })
  const c = new (await import('./helper.ts')).TestClient(broker, 5)
  t.teardown(() => c.stream.destroy())
  c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'ea', clean: true, keepalive: 0, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('hello') } })
  const auth = await c.next('auth')
  t.equal(auth.reasonCode, 0x18)
  t.equal(auth.properties.authenticationData.toString(), 'challenge')
  c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('answer') } })
  const ack = await c.next('connack')
  t.equal(ack.reasonCode, 0)
  t.equal(ack.properties.authenticationMethod, 'SCRAM')
  c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('again') } })
  t.equal((await c.next('auth')).reasonCode, 0)
  c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('bad') } })
  t.equal((await c.next('disconnect')).reasonCode, 0x87)
  t.same(steps, ['connect:hello', 'continue:answer', 'reauthenticate:again', 'reauthenticate:bad'])
})

t.test('enhanced authentication without the hook: 0x8C; failure during the exchange refuses the CONNECT', async (t) => {
  const plain = setup(t)
  const a = await connect(t, plain, { protocolVersion: 5, properties: { authenticationMethod: 'X' } })
  t.equal(a.connack.reasonCode, 0x8C)
  const broker = setup(t, { authenticateEnhanced: (_c, r) => r.step === 'connect' ? { reasonCode: 0x18 } : { reasonCode: 0x87 } })
  const c = new (await import('./helper.ts')).TestClient(broker, 5)
  t.teardown(() => c.stream.destroy())
  c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'eb', clean: true, keepalive: 0, properties: { authenticationMethod: 'X' } })
  await c.next('auth')
  c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X' } })
  t.equal((await c.next('connack')).reasonCode, 0x87)
})

t.test('server-initiated DISCONNECT with reason string via client.close()', async (t) => {
  const broker = setup(t)
  let client: import('../src/index.ts').Client | undefined
  broker.on('client', (c) => { client = c })
  const c = await connect(t, broker, { protocolVersion: 5 })
  client!.close(0x98, 'bye')
  const d = await c.next('disconnect')
  t.equal(d.reasonCode, 0x98)
  t.equal(d.properties.reasonString, 'bye')
})
