import t from 'tap'
import { describeSession, MemoryStore, type Broker } from '../src/index.ts'
import { connect, delay, setup, type T } from './helper.ts'
import { FakeClock } from './fake-clock.ts'

// A 5.0 CONNECT with Clean Start 0 and no Session Expiry Interval resumes the session it
// finds [MQTT-3.1.2-5]; its expiry (0) applies once this connection ends [3.1.2.11.2].

t.test('[MQTT-3.1.2-5] a resume without Session Expiry gets the queue, the unacknowledged PUBLISH and the pending PUBREL', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'r0', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  await a.subscribe([{ topic: 'q1', qos: 1 }, { topic: 'q2', qos: 2 }])
  const pub = await connect(t, broker, { protocolVersion: 5 })
  pub.publish('q2', 'two', 2)
  await pub.next('pubrec')
  const two = await a.next('publish')
  a.send({ cmd: 'pubrec', messageId: two.messageId })
  await a.next('pubrel')
  pub.publish('q1', 'unacked', 1)
  await pub.next('puback')
  const unacked = await a.next('publish')
  a.drop()
  await delay(20)
  for (let i = 0; i < 3; i++) {
    pub.publish('q1', `queued${i}`, 1)
    await pub.next('puback')
  }
  const b = await connect(t, broker, { clientId: 'r0', clean: false, protocolVersion: 5 })
  t.equal(b.connack.sessionPresent, true)
  const rel = await b.next('pubrel')
  t.equal(rel.messageId, two.messageId, 'PUBREL resent [MQTT-4.4.0-1]')
  b.send({ cmd: 'pubcomp', messageId: rel.messageId })
  const again = await b.next('publish')
  t.same([again.payload.toString(), again.messageId, again.dup], ['unacked', unacked.messageId, true], 'unacknowledged PUBLISH resent with DUP and its id')
  b.send({ cmd: 'puback', messageId: again.messageId })
  const got: string[] = []
  for (let i = 0; i < 3; i++) {
    const m = await b.next('publish')
    got.push(m.payload.toString())
    b.send({ cmd: 'puback', messageId: m.messageId })
  }
  t.same(got, ['queued0', 'queued1', 'queued2'])
  // the expiry of 0 applies now: the session ends with this connection
  b.disconnect()
  await b.closed()
  await delay(10)
  const c = await connect(t, broker, { clientId: 'r0', clean: false, protocolVersion: 5 })
  t.equal(c.connack.sessionPresent, false, 'the session ended when the connection without expiry closed')
  t.equal(describeSession(broker, 'r0')?.subscriptionCount, 0, 'a new session: no subscriptions')
})

t.test('[MQTT-3.1.2-5] a takeover by a connection without Session Expiry keeps the unacknowledged messages', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'r1', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  await a.subscribe('t', 1)
  const pub = await connect(t, broker, {})
  pub.publish('t', 'inflight', 1)
  await pub.next('puback')
  const first = await a.next('publish')
  const b = await connect(t, broker, { clientId: 'r1', clean: false, protocolVersion: 5 })
  t.equal((await a.next('disconnect')).reasonCode, 0x8E)
  t.equal(b.connack.sessionPresent, true)
  const again = await b.next('publish')
  t.same([again.payload.toString(), again.messageId, again.dup], ['inflight', first.messageId, true])
  b.send({ cmd: 'puback', messageId: again.messageId })
  pub.publish('t', 'live', 1)
  t.equal((await b.next('publish')).payload.toString(), 'live', 'the subscription is kept')
})

t.test('[MQTT-4.3.3-10] an inbound QoS 2 resent with DUP after a resume without Session Expiry (restarted broker) is not routed again', async (t) => {
  const store = new MemoryStore()
  const b1 = setup(t, { store })
  const watch1 = await connect(t, b1, { clientId: 'w', clean: false })
  await watch1.subscribe('x2', 2)
  const p1 = await connect(t, b1, { clientId: 'p2', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  p1.send({ cmd: 'publish', topic: 'x2', payload: Buffer.from('one'), qos: 2, messageId: 42, retain: false, dup: false })
  await p1.next('pubrec')
  const first = await watch1.next('publish')
  watch1.send({ cmd: 'pubrec', messageId: first.messageId })
  await watch1.next('pubrel')
  watch1.send({ cmd: 'pubcomp', messageId: first.messageId })
  await delay(10)
  await b1.close()
  const b2 = setup(t, { store })
  await b2.ready()
  const watch2 = await connect(t, b2, { clientId: 'w', clean: false })
  const p2 = await connect(t, b2, { clientId: 'p2', clean: false, protocolVersion: 5 })
  t.equal(p2.connack.sessionPresent, true)
  p2.send({ cmd: 'publish', topic: 'x2', payload: Buffer.from('one'), qos: 2, messageId: 42, retain: false, dup: true })
  t.equal((await p2.next('pubrec')).messageId, 42)
  p2.send({ cmd: 'pubrel', messageId: 42 })
  t.equal((await p2.next('pubcomp')).messageId, 42)
  t.ok(await watch2.nothing(50, 'publish'), 'not delivered a second time')
})

t.test('[MQTT-3.14.2-2] with maxSessionExpiryInterval 0, a DISCONNECT repeating the expiry the client sent in CONNECT is no protocol error', async (t) => {
  const broker = setup(t, { limits: { maxSessionExpiryInterval: 0 } })
  const watch = await connect(t, broker, {})
  await watch.subscribe('will/#', 1)
  const a = await connect(t, broker, { clientId: 'd0', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 }, will: { topic: 'will/d0', payload: Buffer.from('gone'), qos: 1, retain: false } })
  t.equal(a.connack.properties.sessionExpiryInterval, 0, 'granted 0')
  a.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } })
  await a.closed()
  t.ok(a.received.every((p) => p.cmd !== 'disconnect'), 'no DISCONNECT 0x82 from the broker')
  t.ok(await watch.nothing(50, 'publish'), 'a normal disconnect: the will is not published [MQTT-3.14.4-3]')
  t.equal(describeSession(broker, 'd0'), undefined, 'the session still ends (granted expiry 0)')
})

t.test('[MQTT-3.3.4-9] a resume resends stored in-flight messages within the new Receive Maximum; the rest follow with their ids', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'rm', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  await a.subscribe('t', 1)
  const pub = await connect(t, broker, {})
  const first: number[] = []
  for (let i = 0; i < 5; i++) {
    pub.publish('t', `m${i}`, 1)
    await pub.next('puback')
    first.push((await a.next('publish')).messageId)
  }
  a.drop()
  await delay(20)
  const b = await connect(t, broker, { clientId: 'rm', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60, receiveMaximum: 2 } })
  t.equal(b.connack.sessionPresent, true)
  const m0 = await b.next('publish')
  const m1 = await b.next('publish')
  t.ok(await b.nothing(50, 'publish'), 'no more than Receive Maximum unacknowledged')
  // a new message meanwhile waits behind the stored ones and gets an id none of them holds
  pub.publish('t', 'new', 1)
  await pub.next('puback')
  t.ok(await b.nothing(30, 'publish'))
  const got = [m0, m1]
  for (let i = 0; i < 4; i++) {
    b.send({ cmd: 'puback', messageId: got[i]!.messageId })
    got.push(await b.next('publish'))
    t.ok(await b.nothing(20, 'publish'), `still at most 2 after ack ${i}`)
  }
  t.same(got.slice(0, 5).map((m) => [m.payload.toString(), m.messageId, m.dup]), first.map((id, i) => [`m${i}`, id, true]), 'resent with DUP and their own ids, in order')
  t.equal(got[5]!.payload.toString(), 'new')
  t.notOk(first.slice(2).includes(got[5]!.messageId), 'the new message does not reuse an id the client still holds')
})

async function qos2Publisher (t: T, broker: Broker): Promise<(payload: string, extra?: Record<string, unknown>) => Promise<void>> {
  const pub = await connect(t, broker, { protocolVersion: 5 })
  return async (payload, extra = {}) => {
    const id = pub.publish('t', payload, 2, false, extra)
    await pub.next('pubrec')
    pub.send({ cmd: 'pubrel', messageId: id })
    await pub.next('pubcomp')
  }
}

t.test('[MQTT-3.3.2-5] a resumed in-flight message waiting for room is not dropped when it expires: its delivery had started', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const a = await connect(t, broker, { clientId: 'exp', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  await a.subscribe('t', 2)
  const publish2 = await qos2Publisher(t, broker)
  await publish2('m0')
  await publish2('m1', { properties: { messageExpiryInterval: 1 } })
  const m0 = await a.next('publish')
  const m1 = await a.next('publish')
  a.drop()
  await clock.tick(1000) // m1 expires (at exactly 1 s) while it waits behind m0
  const b = await connect(t, broker, { clientId: 'exp', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } })
  t.same([(await b.next('publish')).messageId, await b.nothing(30, 'publish')], [m0.messageId, true])
  b.send({ cmd: 'pubrec', messageId: m0.messageId })
  b.send({ cmd: 'pubcomp', messageId: (await b.next('pubrel')).messageId })
  const again = await b.next('publish')
  t.same([again.payload.toString(), again.messageId, again.dup], ['m1', m1.messageId, true], 'resent with DUP and its id')
})

t.test('[MQTT-2.2.1-3] a packet id the client may still hold (resumed QoS 2, waiting in the queue) is not given to a new message', async (t) => {
  // the resumed message that waits is dropped by the queue bound (drop-oldest)
  const broker = setup(t, { queuePolicy: 'drop-oldest', limits: { maxQueuedMessages: 1 } })
  const a = await connect(t, broker, { clientId: 'ids', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  await a.subscribe('t', 2)
  const publish2 = await qos2Publisher(t, broker)
  await publish2('m0')
  await publish2('m1')
  // the client got both and answered nothing that arrived: it may hold both ids, awaiting PUBREL
  const held = new Set([(await a.next('publish')).messageId, (await a.next('publish')).messageId])
  a.drop()
  await delay(20)
  const b = await connect(t, broker, { clientId: 'ids', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } })
  const seen: string[] = []
  const complete = async (): Promise<void> => {
    const m = await b.next('publish')
    seen.push(m.payload.toString())
    if (!m.dup) t.notOk(held.has(m.messageId), `${m.payload.toString()}: id ${m.messageId} is not one the client holds`)
    b.send({ cmd: 'pubrec', messageId: m.messageId })
    await b.next('pubrel')
    held.delete(m.messageId)
    b.send({ cmd: 'pubcomp', messageId: m.messageId })
  }
  await publish2('n0') // queued behind m1, which the bound drops
  await complete()
  for (let i = 1; i < 3; i++) {
    await publish2(`n${i}`)
    await complete()
  }
  await complete()
  t.same(seen.filter((p) => p !== 'm1'), ['m0', 'n0', 'n1', 'n2'])
})
