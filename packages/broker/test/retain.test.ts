import t from 'tap'
import { connect, setup } from './helper.ts'

t.test('[MQTT-3.3.1-6] a retained message is sent to new subscribers with RETAIN 1 [MQTT-3.3.1-8]', async (t) => {
  const broker = setup(t)
  const pub = await connect(t, broker, {})
  pub.publish('r/a', 'kept', 1, true)
  await pub.next('puback')
  const live = await connect(t, broker, {})
  await live.subscribe('r/+', 1)
  const m = await live.next('publish')
  t.equal(m.retain, true)
  t.equal(m.payload.toString(), 'kept')
  live.send({ cmd: 'puback', messageId: m.messageId })
  pub.publish('r/a', 'again', 0, true)
  const fwd = await live.next('publish')
  t.equal(fwd.retain, false, '[MQTT-3.3.1-9] established subscription gets RETAIN 0')
})

t.test('[MQTT-3.3.1-10] an empty retained payload clears the retained message', async (t) => {
  const broker = setup(t)
  const pub = await connect(t, broker, {})
  pub.publish('r', 'x', 1, true)
  await pub.next('puback')
  pub.publish('r', '', 1, true)
  await pub.next('puback')
  t.equal(await broker.store.countRetained(), 0)
  const s = await connect(t, broker, {})
  await s.subscribe('r', 0)
  t.ok(await s.nothing(50, 'publish'))
})

t.test('[MQTT-3.3.1-9..11] retain handling 0, 1, 2 (5.0)', async (t) => {
  const broker = setup(t)
  await broker.publish({ topic: 'rh', payload: 'v', qos: 0, retain: true })
  const c = await connect(t, broker, { protocolVersion: 5 })
  await c.subscribe([{ topic: 'rh', qos: 0, rh: 2 }])
  t.ok(await c.nothing(30, 'publish'), 'rh 2: never')
  await c.subscribe([{ topic: 'rh/#', qos: 0, rh: 1 }])
  t.equal((await c.next('publish')).payload.toString(), 'v', 'rh 1: new subscription gets it')
  await c.subscribe([{ topic: 'rh/#', qos: 0, rh: 1 }])
  t.ok(await c.nothing(30, 'publish'), 'rh 1: existing subscription does not')
  await c.subscribe([{ topic: 'rh/#', qos: 0, rh: 0 }])
  t.equal((await c.next('publish')).retain, true, 'rh 0: always')
})

t.test('[MQTT-3.3.1-12] retain as published keeps the RETAIN flag on forwarded messages', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5 })
  await c.subscribe([{ topic: 'rap', qos: 0, rap: true }])
  const plain = await connect(t, broker, { protocolVersion: 5 })
  await plain.subscribe([{ topic: 'rap', qos: 0 }])
  await broker.publish({ topic: 'rap', payload: 'x', retain: true })
  t.equal((await c.next('publish')).retain, true)
  t.equal((await plain.next('publish')).retain, false, '[MQTT-3.3.1-13]')
})

t.test('retained messages are not sent to shared subscriptions', async (t) => {
  const broker = setup(t)
  await broker.publish({ topic: 's', payload: 'x', retain: true })
  const c = await connect(t, broker, { protocolVersion: 5 })
  await c.subscribe('$share/g/s', 0)
  t.ok(await c.nothing(30, 'publish'))
})

t.test('maxRetained: new retained topics beyond the limit are not stored', async (t) => {
  const broker = setup(t, { limits: { maxRetained: 1 } })
  await broker.publish({ topic: 'a', payload: '1', retain: true })
  await broker.publish({ topic: 'b', payload: '2', retain: true })
  await broker.publish({ topic: 'a', payload: '3', retain: true })
  const m = await broker.store.matchRetained('#')
  t.same(m.map((x) => x.payload.toString()), ['3'])
})
