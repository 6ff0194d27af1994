import t from 'tap'
import { describeSession, listSessions, type StoredMessage } from '../src/index.ts'
import { connect, delay, setup } from './helper.ts'

t.test('metrics: a fresh broker reports zeros', async (t) => {
  const broker = setup(t)
  const m = broker.metrics()
  t.same(m.connections, { open: 0, connected: 0, maximum: 0, total: 0 })
  t.same(m.sessions, { online: 0, offline: 0 })
  t.same(m.publish.received, [0, 0, 0])
  t.same(m.publish.sent, [0, 0, 0])
  t.equal(m.dropped.total, 0)
  t.equal(m.auth.failures, 0)
  t.equal(m.queued, 0)
  t.equal(m.inflightOut, 0)
  t.ok(m.uptimeSeconds >= 0)
})

t.test('metrics: connections, sessions, subscriptions and traffic by QoS', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, { clientId: 'sub' })
  await sub.subscribe('a/#', 2)
  const pers = await connect(t, broker, { clientId: 'pers', clean: false })
  await pers.subscribe('a/b', 1)
  pers.disconnect()
  await delay(20)
  const pub = await connect(t, broker, { clientId: 'pub' })
  pub.publish('a/b', 'xx', 0)
  pub.publish('a/b', 'yyy', 1)
  await pub.next('puback')
  pub.publish('a/b', 'zzzz', 2)
  await pub.next('pubrec')
  const m = broker.metrics()
  t.same(m.connections, { open: 2, connected: 2, maximum: 2, total: 3 }, 'pers left before pub came')
  t.same(m.sessions, { online: 2, offline: 1 })
  t.equal(m.subscriptions, 2)
  t.same(m.publish.received, [1, 1, 1])
  t.same(m.publish.receivedBytes, [2, 3, 4])
  t.same(m.publish.sent, [1, 1, 1], 'one delivery per QoS to sub')
  t.ok(m.publish.sentBytes[0] > 2 && m.publish.sentBytes[1] > 3 && m.publish.sentBytes[2] > 4, 'wire bytes include headers')
  t.equal(m.inflightOut, 2, 'sub has not acknowledged QoS 1 and 2')
  t.equal(m.inflightIn, 1, 'the QoS 2 publish waits for PUBREL')
  t.ok(m.packets.received >= 9 && m.bytes.received > 0)
})

t.test('metrics: drops by cause add up to the total', async (t) => {
  const broker = setup(t, { queuePolicy: 'drop-oldest', limits: { maxQueuedMessages: 2, maxRetained: 1 } })
  // too large for the client (Maximum Packet Size 30)
  const small = await connect(t, broker, { protocolVersion: 5, clientId: 'small', properties: { maximumPacketSize: 30 } })
  await small.subscribe('big', 0)
  await broker.publish({ topic: 'big', payload: Buffer.alloc(100), qos: 0 })
  // retained limit
  await broker.publish({ topic: 'r1', payload: 'x', retain: true })
  await broker.publish({ topic: 'r2', payload: 'x', retain: true })
  // queue full: a subscriber that never acknowledges, inflight window 1
  const slow = await connect(t, broker, { protocolVersion: 5, clientId: 'slow', properties: { receiveMaximum: 1 } })
  await slow.subscribe('q', 1)
  for (let i = 0; i < 5; i++) await broker.publish({ topic: 'q', payload: String(i), qos: 1 })
  const m = broker.metrics()
  t.equal(m.dropped.tooLarge, 1)
  t.equal(m.dropped.retainedLimit, 1)
  t.equal(m.dropped.queueFull, 2, '1 inflight, 2 queued, 2 dropped')
  t.equal(m.queued, 2)
  t.equal(m.queuedMax, 2)
  t.equal(m.dropped.total, m.dropped.tooLarge + m.dropped.retainedLimit + m.dropped.queueFull + m.dropped.backedUp + m.dropped.expired + m.dropped.offlineQueueFull)
})

t.test('metrics: refused CONNECTs and auth failures are counted', async (t) => {
  const broker = setup(t, { authenticate: (_c, username) => username === 'ok' })
  const bad = await connect(t, broker, { username: 'nope', password: Buffer.from('x') })
  t.equal(bad.connack.returnCode, 4)
  const good = await connect(t, broker, { username: 'ok' })
  t.equal(good.connack.returnCode, 0)
  t.same(broker.metrics().auth, { failures: 1, connectsRefused: 1 })
})

t.test('subscribe: an in-process handler gets matching messages from clients and publish, capped QoS', async (t) => {
  const broker = setup(t)
  const got: StoredMessage[] = []
  const stop = broker.subscribe('s/+', (m) => { got.push(m) }, { qos: 1 })
  t.equal(broker.metrics().localSubscriptions, 1)
  const pub = await connect(t, broker)
  pub.publish('s/1', 'from client', 2, false)
  await pub.next('pubrec')
  await broker.publish({ topic: 's/2', payload: 'from broker', qos: 0, retain: true })
  await broker.publish({ topic: 'other', payload: 'no' })
  await broker.publish({ topic: 's/3/deeper', payload: 'no' })
  t.same(got.map((m) => [m.topic, m.payload.toString(), m.qos, m.retain]), [
    ['s/1', 'from client', 1, false],
    ['s/2', 'from broker', 0, true]
  ])
  stop()
  stop()
  t.equal(broker.metrics().localSubscriptions, 0)
  await broker.publish({ topic: 's/4', payload: 'after' })
  t.equal(got.length, 2, 'nothing after unsubscribe')
})

t.test('subscribe: the payload stays valid after the socket chunk is reused', async (t) => {
  const broker = setup(t)
  let kept: Buffer | null = null
  broker.subscribe('p', (m) => { kept = m.payload })
  const pub = await connect(t, broker)
  pub.publish('p', 'hello', 1)
  await pub.next('puback')
  t.not(kept, null)
  t.equal(kept!.toString(), 'hello')
  t.equal(kept!.byteOffset === 0 || kept!.buffer.byteLength >= kept!.length, true)
})

t.test('subscribe: handlers that throw or reject are logged; others and MQTT subscribers still get the message', async (t) => {
  const errors: unknown[] = []
  const broker = setup(t, { logger: { debug () {}, info () {}, warn () {}, error (o) { errors.push(o) } } })
  const got: string[] = []
  broker.subscribe('#', () => { throw new Error('boom') })
  broker.subscribe('#', async () => { throw new Error('async boom') })
  broker.subscribe('x', (m) => { got.push(m.topic) })
  const sub = await connect(t, broker)
  await sub.subscribe('x', 0)
  await broker.publish({ topic: 'x', payload: '1' })
  t.same(got, ['x'])
  t.equal((await sub.next('publish')).topic, 'x')
  await delay(5)
  t.equal(errors.length, 2)
})

t.test('subscribe: a handler may publish and unsubscribe while routing', async (t) => {
  const broker = setup(t)
  const seen: string[] = []
  let stop = (): void => {}
  stop = broker.subscribe('a', (m) => {
    seen.push('a:' + m.payload.toString())
    stop()
    broker.publish({ topic: 'b', payload: 'relayed' }).catch(() => {})
  })
  broker.subscribe('b', (m) => { seen.push('b:' + m.payload.toString()) })
  broker.subscribe('a', (m) => { seen.push('a2:' + m.payload.toString()) })
  await broker.publish({ topic: 'a', payload: '1' })
  await broker.publish({ topic: 'a', payload: '2' })
  t.same(seen, ['a:1', 'b:relayed', 'a2:1', 'a2:2'])
})

t.test('subscribe: bad filters and options are refused', async (t) => {
  const broker = setup(t)
  t.throws(() => broker.subscribe('a/#/b', () => {}), { code: 'BROKER_ERR_TOPIC_INVALID' })
  t.throws(() => broker.subscribe('$share/g/a', () => {}), { code: 'BROKER_ERR_TOPIC_INVALID' })
  t.throws(() => broker.subscribe('a', () => {}, { qos: 3 as 0 }), TypeError)
  t.throws(() => broker.subscribe('a', 'x' as unknown as () => void), TypeError)
  t.equal(broker.metrics().localSubscriptions, 0)
})

t.test('listSessions / describeSession: admin views of sessions', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'alpha', username: 'Ann' })
  await a.subscribe([{ topic: 'x/+', qos: 1 }, { topic: '$share/g/y', qos: 0 }])
  const b = await connect(t, broker, { clientId: 'beta', clean: false })
  b.disconnect()
  await delay(20)
  const all = listSessions(broker)
  t.equal(all.total, 2)
  t.same(all.sessions.map((s) => [s.clientId, s.connected, s.subscriptionCount]), [['alpha', true, 2], ['beta', false, 0]])
  t.equal(all.sessions[0]!.username, 'Ann')
  t.equal(all.sessions[0]!.transport, 'other')
  t.equal(all.sessions[0]!.remoteAddress, '127.0.0.1')
  t.equal(all.sessions[1]!.username, undefined)
  t.same(listSessions(broker, { search: 'ann' }).sessions.map((s) => s.clientId), ['alpha'], 'search matches usernames')
  t.same(listSessions(broker, { search: 'ET' }).sessions.map((s) => s.clientId), ['beta'])
  t.same(listSessions(broker, { connected: false }).sessions.map((s) => s.clientId), ['beta'])
  const one = listSessions(broker, { limit: 1 })
  t.equal(one.total, 2)
  t.equal(one.sessions.length, 1)
  const d = describeSession(broker, 'alpha')!
  t.same(d.subscriptions!.map((s) => [s.topic, s.qos]).sort(), [['$share/g/y', 0], ['x/+', 1]])
  t.equal(d.protocolVersion, 4)
  t.equal(describeSession(broker, 'nobody'), undefined)
})

t.test('a client error is logged by the engine only when nobody listens to clientError', async (t) => {
  const lines: unknown[] = []
  const logger = { debug (o: unknown) { lines.push(o) }, info () {}, warn () {}, error () {} }
  const broker = setup(t, { logger, authenticate: () => false })
  await connect(t, broker, { username: 'x' })
  t.equal(lines.length, 1, 'logged by the engine')
  const errs: unknown[] = []
  broker.on('clientError', (_c, e) => { errs.push(e) })
  await connect(t, broker, { username: 'y' })
  t.equal(errs.length, 1)
  t.equal(lines.length, 1, 'the listener logs it; the engine does not log it again')
})
