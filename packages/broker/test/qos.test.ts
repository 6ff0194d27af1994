import t from 'tap'
import { connect, delay, setup } from './helper.ts'

t.test('[MQTT-4.3.3-10] inbound QoS 2 with a repeated packet id before PUBREL is delivered once', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, {})
  await sub.subscribe('t', 0)
  const pub = await connect(t, broker, {})
  pub.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2, messageId: 7, retain: false, dup: false })
  t.equal((await pub.next('pubrec')).messageId, 7)
  pub.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2, messageId: 7, retain: false, dup: true })
  t.equal((await pub.next('pubrec')).messageId, 7)
  pub.send({ cmd: 'pubrel', messageId: 7 })
  t.equal((await pub.next('pubcomp')).messageId, 7)
  await sub.next('publish')
  t.ok(await sub.nothing(50, 'publish'), 'exactly once')
  // after PUBCOMP the id is free again: a new message
  pub.send({ cmd: 'publish', topic: 't', payload: Buffer.from('y'), qos: 2, messageId: 7, retain: false, dup: false })
  await pub.next('pubrec')
  t.equal((await sub.next('publish')).payload.toString(), 'y')
})

t.test('PUBREL for an unknown id: PUBCOMP (5.0 with 0x92)', async (t) => {
  const broker = setup(t)
  const c4 = await connect(t, broker, {})
  c4.send({ cmd: 'pubrel', messageId: 9 })
  t.equal((await c4.next('pubcomp')).messageId, 9)
  const c5 = await connect(t, broker, { protocolVersion: 5 })
  c5.send({ cmd: 'pubrel', messageId: 9 })
  t.equal((await c5.next('pubcomp')).reasonCode, 0x92)
})

t.test('[MQTT-3.8.4-6] granted QoS caps delivery QoS (max QoS downgrade)', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, {})
  await sub.subscribe('t', 1)
  const pub = await connect(t, broker, {})
  pub.publish('t', 'x', 2)
  await pub.next('pubrec')
  const m = await sub.next('publish')
  t.equal(m.qos, 1)
  pub.publish('t', 'y', 0)
  t.equal((await sub.next('publish')).qos, 0, 'never upgraded')
})

t.test('[MQTT-4.6.0-6] QoS 1 messages arrive in order; PUBACKs in order', async (t) => {
  const broker = setup(t, { limits: { maxInflight: 3 } })
  const sub = await connect(t, broker, {})
  await sub.subscribe('t', 1)
  const pub = await connect(t, broker, {})
  const ids: number[] = []
  for (let i = 0; i < 20; i++) ids.push(pub.publish('t', String(i), 1))
  const acks: number[] = []
  for (let i = 0; i < 20; i++) acks.push((await pub.next('puback')).messageId)
  t.same(acks, ids)
  const got: string[] = []
  for (let i = 0; i < 20; i++) {
    const m = await sub.next('publish')
    got.push(m.payload.toString())
    sub.send({ cmd: 'puback', messageId: m.messageId })
  }
  t.same(got, Array.from({ length: 20 }, (_, i) => String(i)))
})

t.test('outbound inflight window: no more than min(maxInflight, client Receive Maximum) unacked', async (t) => {
  const broker = setup(t, { limits: { maxInflight: 10 } })
  const sub = await connect(t, broker, { protocolVersion: 5, properties: { receiveMaximum: 2 } })
  await sub.subscribe('t', 1)
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 5; i++) pub.publish('t', String(i), 1)
  await delay(50)
  t.equal(sub.received.filter((p) => p.cmd === 'publish').length, 2, 'window of 2 [MQTT-3.3.4-7]')
  const first = await sub.next('publish')
  sub.send({ cmd: 'puback', messageId: first.messageId })
  await delay(30)
  t.equal(sub.received.filter((p) => p.cmd === 'publish').length, 2, 'one acked, one more sent')
})

t.test('[MQTT-3.3.4-9] client exceeding the broker Receive Maximum gets DISCONNECT 0x93', async (t) => {
  const broker = setup(t, { limits: { maxInflight: 2 } })
  const c = await connect(t, broker, { protocolVersion: 5 })
  for (let i = 1; i <= 3; i++) c.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2, messageId: i, retain: false, dup: false })
  t.equal((await c.next('disconnect')).reasonCode, 0x93)
})

t.test('PUBREC with a failure code ends a QoS 2 delivery; unknown PUBREC gets PUBREL 0x92', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, { protocolVersion: 5 })
  await sub.subscribe('t', 2)
  const pub = await connect(t, broker, {})
  pub.publish('t', 'x', 2)
  const m = await sub.next('publish')
  t.equal(m.qos, 2)
  sub.send({ cmd: 'pubrec', messageId: m.messageId, reasonCode: 0x80 })
  t.ok(await sub.nothing(50, 'pubrel'))
  sub.send({ cmd: 'pubrec', messageId: 999 })
  t.equal((await sub.next('pubrel')).reasonCode, 0x92)
})

t.test('authorizePublish: refusal gives 0x87 in 5.0 and a plain ack (dropped) in 3.1.1', async (t) => {
  const broker = setup(t, { authorizePublish: (_c, p) => p.topic !== 'secret' })
  const sub = await connect(t, broker, {})
  await sub.subscribe('#', 2)
  const c5 = await connect(t, broker, { protocolVersion: 5 })
  c5.publish('secret', 'x', 1)
  t.equal((await c5.next('puback')).reasonCode, 0x87)
  c5.publish('secret', 'x', 2)
  t.equal((await c5.next('pubrec')).reasonCode, 0x87)
  const c4 = await connect(t, broker, {})
  c4.publish('secret', 'x', 1)
  await c4.next('puback')
  const id = c4.publish('secret', 'x', 2)
  await c4.next('pubrec')
  c4.send({ cmd: 'pubrel', messageId: id })
  await c4.next('pubcomp')
  c4.publish('secret', 'x', 0)
  c4.publish('open', 'y', 1)
  t.equal((await sub.next('publish')).topic, 'open')
  t.ok(await sub.nothing(30, 'publish'), 'refused messages not routed')
})

t.test('authorizeForward can change or skip a delivery', async (t) => {
  const broker = setup(t, {
    authorizeForward: (c, m) => c.id === 'skip' ? null : (m.topic === 'change' ? { ...m, payload: Buffer.from('changed') } : m)
  })
  const skip = await connect(t, broker, { clientId: 'skip' })
  await skip.subscribe('#', 0)
  const keep = await connect(t, broker, { clientId: 'keep' })
  await keep.subscribe('#', 0)
  const pub = await connect(t, broker, {})
  pub.publish('change', 'x')
  pub.publish('same', 'y')
  t.equal((await keep.next('publish')).payload.toString(), 'changed')
  t.equal((await keep.next('publish')).payload.toString(), 'y')
  t.ok(await skip.nothing(30, 'publish'))
})

t.test('large QoS 1 payloads fan out with a patched header and a shared tail', async (t) => {
  const broker = setup(t)
  const subs = []
  for (let i = 0; i < 3; i++) {
    const s = await connect(t, broker, {})
    await s.subscribe('big', 1)
    subs.push(s)
  }
  const pub = await connect(t, broker, {})
  const payload = Buffer.alloc(10_000, 7)
  pub.publish('big', payload, 1)
  for (const s of subs) {
    const m = await s.next('publish')
    t.equal(Buffer.compare(m.payload, payload), 0)
    t.ok(m.messageId > 0)
  }
})
