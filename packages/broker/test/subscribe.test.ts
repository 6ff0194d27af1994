import t from 'tap'
import { connect, delay, setup } from './helper.ts'

t.test('[MQTT-3.3.4-2] overlapping subscriptions: one delivery at the highest QoS with every subscription identifier', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5 })
  await c.subscribe('a/+', 0, { subscriptionIdentifier: 1 })
  await c.subscribe('a/#', 1, { subscriptionIdentifier: 2 })
  await c.subscribe('#', 0)
  const pub = await connect(t, broker, {})
  pub.publish('a/b', 'x', 2)
  const m = await c.next('publish')
  t.equal(m.qos, 1)
  t.same([m.properties.subscriptionIdentifier].flat().sort(), [1, 2])
  t.ok(await c.nothing(30, 'publish'), 'only one copy')
})

t.test('3.1.1 overlapping subscriptions also give one delivery', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, {})
  await c.subscribe([{ topic: 'a/+', qos: 0 }, { topic: 'a/#', qos: 2 }])
  await broker.publish({ topic: 'a/b', payload: 'x', qos: 2 })
  t.equal((await c.next('publish')).qos, 2)
  t.ok(await c.nothing(30, 'publish'))
})

t.test('[MQTT-3.8.3-3] no local: own messages are not delivered back', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5 })
  await c.subscribe([{ topic: 'n', qos: 0, nl: true }])
  c.publish('n', 'mine')
  t.ok(await c.nothing(50, 'publish'))
  const other = await connect(t, broker, {})
  other.publish('n', 'theirs')
  t.equal((await c.next('publish')).payload.toString(), 'theirs')
})

t.test('[MQTT-4.8.2] shared subscriptions: round-robin, one member per message', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { protocolVersion: 5 })
  const b = await connect(t, broker, { protocolVersion: 5 })
  await a.subscribe('$share/g/job/+', 0)
  await b.subscribe('$share/g/job/+', 0)
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 6; i++) pub.publish('job/x', String(i))
  await delay(50)
  const ga = a.received.filter((p) => p.cmd === 'publish').map((p) => p.payload.toString())
  const gb = b.received.filter((p) => p.cmd === 'publish').map((p) => p.payload.toString())
  t.equal(ga.length, 3)
  t.equal(gb.length, 3)
  t.same([...ga, ...gb].sort(), ['0', '1', '2', '3', '4', '5'])
})

t.test('shared subscription: a message the member did not acknowledge goes to another member when it drops', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { protocolVersion: 5 })
  await a.subscribe('$share/g/w', 1)
  const pub = await connect(t, broker, {})
  pub.publish('w', 'job', 1)
  await a.next('publish')
  const b = await connect(t, broker, { protocolVersion: 5 })
  await b.subscribe('$share/g/w', 1)
  a.drop()
  const m = await b.next('publish')
  t.equal(m.payload.toString(), 'job')
})

t.test('shared subscription: unsubscribe of the last member removes the group; nl on shared is a protocol error', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { protocolVersion: 5 })
  await a.subscribe('$share/g/u', 0)
  a.send({ cmd: 'unsubscribe', messageId: 5, unsubscriptions: ['$share/g/u'] })
  t.same((await a.next('unsuback')).granted, [0])
  t.equal(broker.subscriptionCount, 0)
  a.send({ cmd: 'subscribe', messageId: 6, subscriptions: [{ topic: '$share/g/u', qos: 0, nl: true }] })
  t.equal((await a.next('disconnect')).reasonCode, 0x82)
})

t.test('shared subscription: offline persistent member gets the message queued', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'sa', clean: false })
  await a.subscribe('$share/g/q', 1)
  a.disconnect()
  await a.closed()
  await broker.publish({ topic: 'q', payload: 'held', qos: 1 })
  const back = await connect(t, broker, { clientId: 'sa', clean: false })
  t.equal((await back.next('publish')).payload.toString(), 'held')
})

t.test('[MQTT-3.9.3] SUBACK reason codes: invalid filter, refused, downgraded', async (t) => {
  const broker = setup(t, {
    authorizeSubscribe: (_c, s) => s.topic === 'deny' ? false : s.topic === 'cap' ? 0 : s.topic === 'code' ? 0x97 : true
  })
  const c5 = await connect(t, broker, { protocolVersion: 5 })
  const ack5 = await c5.subscribe([{ topic: 'a/#/b', qos: 0 }, { topic: 'deny', qos: 1 }, { topic: 'cap', qos: 2 }, { topic: 'ok', qos: 2 }, { topic: '$share//x', qos: 0 }, { topic: 'code', qos: 0 }])
  t.same(ack5.granted, [0x8F, 0x87, 0, 2, 0x8F, 0x97])
  const c4 = await connect(t, broker, {})
  const ack4 = await c4.subscribe([{ topic: 'a/#/b', qos: 0 }, { topic: 'deny', qos: 1 }, { topic: 'code', qos: 0 }])
  t.same(ack4.granted, [0x80, 0x80, 0x80])
})

t.test('maxTopicLevels applies to filters', async (t) => {
  const broker = setup(t, { limits: { maxTopicLevels: 3 } })
  const c = await connect(t, broker, {})
  t.same((await c.subscribe('a/b/c/d', 0)).granted, [0x80])
})

t.test('[MQTT-3.10.4] UNSUBSCRIBE: 5.0 reason codes; 3.1.1 plain UNSUBACK; events', async (t) => {
  const broker = setup(t)
  const events: string[] = []
  broker.on('subscribe', (subs) => events.push('sub ' + subs.map((s) => `${s.topic}:${s.granted}`).join(',')))
  broker.on('unsubscribe', (topics) => events.push('unsub ' + topics.join(',')))
  const c = await connect(t, broker, { protocolVersion: 5 })
  await c.subscribe('x', 1)
  c.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['x', 'y'] })
  t.same((await c.next('unsuback')).granted, [0x00, 0x11])
  const c4 = await connect(t, broker, { clean: false })
  await c4.subscribe('z', 0)
  c4.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['z'] })
  t.equal((await c4.next('unsuback')).messageId, 4)
  t.same(events, ['sub x:1', 'unsub x,y', 'sub z:0', 'unsub z'])
  await broker.publish({ topic: 'x', payload: 'no' })
  t.ok(await c.nothing(30, 'publish'))
})

t.test('[MQTT-3.8.4-3] a repeated subscription replaces the old one (new QoS)', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, {})
  await c.subscribe('r', 0)
  await c.subscribe('r', 1)
  t.equal(broker.subscriptionCount, 1)
  await broker.publish({ topic: 'r', payload: 'x', qos: 1 })
  t.equal((await c.next('publish')).qos, 1)
})

t.test('[MQTT-4.7.2-1] # does not match $SYS topics; $SYS is published on an interval', async (t) => {
  const broker = setup(t, { sysInterval: 0.05 })
  const all = await connect(t, broker, {})
  await all.subscribe('#', 0)
  const sys = await connect(t, broker, {})
  await sys.subscribe('$SYS/broker/+', 0)
  await sys.subscribe('$SYS/broker/clients/connected', 0)
  const topics = new Set<string>()
  for (let i = 0; i < 5; i++) topics.add((await sys.next('publish')).topic)
  t.ok(topics.has('$SYS/broker/version'))
  const cc = await sys.next('publish')
  while (cc.topic !== '$SYS/broker/clients/connected') Object.assign(cc, await sys.next('publish'))
  t.equal(cc.payload.toString(), '2')
  t.notOk(all.received.some((p) => p.cmd === 'publish' && p.topic.startsWith('$SYS')))
  const retained = (await broker.store.matchRetained('$SYS/#')).map((m) => m.topic)
  for (const name of ['version', 'uptime', 'clients/connected', 'clients/total', 'clients/maximum', 'messages/received', 'messages/sent', 'bytes/received', 'bytes/sent', 'subscriptions/count', 'retained messages/count', 'load/messages/received/1min', 'load/bytes/sent/15min']) {
    t.ok(retained.includes(`$SYS/broker/${name}`), name)
  }
})
