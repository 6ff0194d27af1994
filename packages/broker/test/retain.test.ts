import net from 'node:net'
import t from 'tap'
import mqttPacket from 'mqtt-packet'
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

t.test('retained messages on SUBSCRIBE are paced by the client, never dropped for want of queue room', async (t) => {
  // more retained messages than inflight window + queue bound: they arrive as the client acks
  const broker = setup(t, { limits: { maxQueuedMessages: 200, maxInflight: 20 } })
  const n = 3000
  for (let i = 0; i < n; i++) await broker.publish({ topic: `many/${i}`, payload: Buffer.from(String(i)), qos: 1, retain: true })
  const sub = await connect(t, broker, {})
  const seen = new Set<string>()
  let inflightMax = 0
  let unacked = 0
  sub.stream.on('data', () => {
    // ack every QoS 1 PUBLISH received so far (the helper parsed them into `received`)
    setImmediate(() => {
      for (const p of sub.received.splice(0)) {
        if (p.cmd !== 'publish') continue
        seen.add(p.topic)
        unacked++
        inflightMax = Math.max(inflightMax, unacked)
        sub.send({ cmd: 'puback', messageId: p.messageId })
        unacked--
      }
    })
  })
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'many/#', qos: 1 }] })
  const deadline = Date.now() + 10000
  while (seen.size < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(seen.size, n, `all ${n} retained messages arrived at QoS 1 (queue bound 200, window 20)`)
  t.equal(broker.stats.publishDropped, 0, 'none dropped')
})

t.test('retained QoS 0 burst waits for a backed-up TCP socket instead of dropping', async (t) => {
  // a real socket (the in-memory pair has no back-pressure): 12 MB of retained messages to a
  // client that stops reading for a while, through a 64 KB buffer limit
  const broker = setup(t, { limits: { maxBufferedBytes: 65536 } })
  const n = 3000
  const payload = Buffer.alloc(4096, 0x61)
  for (let i = 0; i < n; i++) await broker.publish({ topic: `burst/${i}`, payload, qos: 0, retain: true })
  const server = net.createServer((socket) => { broker.handle(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  t.teardown(() => { sock.destroy() })
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const got = { publishes: 0, suback: false }
  parser.on('packet', (p: { cmd: string }) => {
    if (p.cmd === 'publish') got.publishes++
    if (p.cmd === 'suback') got.suback = true
  })
  sock.on('data', (chunk: Buffer) => { parser.parse(chunk) })
  sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'slow', keepalive: 60 }))
  sock.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'burst/#', qos: 0 }] }))
  while (!got.suback) await new Promise((resolve) => setTimeout(resolve, 5))
  sock.pause() // stop reading: the kernel buffers fill, then the broker's socket backs up
  await new Promise((resolve) => setTimeout(resolve, 300))
  sock.resume()
  const deadline = Date.now() + 10000
  while (got.publishes < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(got.publishes, n, `all ${n} arrived`)
  t.equal(broker.stats.publishDropped, 0, 'none dropped')
})
