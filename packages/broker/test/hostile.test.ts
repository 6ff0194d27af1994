// Limits against hostile clients, over in-memory streams: outbound topic aliases, the first
// packet, sockets without CONNECT, user properties, client PUBLISH rules, packets before a
// malformed one. The same bounds over real sockets against the `culex` process: apps/broker/test/hostile-*.test.ts.
import { Duplex } from 'node:stream'
import t from 'tap'
import { encode } from '@culex/packet'
import { connect, delay, duplexPair, setup, TestClient, type AnyPacket } from './helper.ts'

/** What a client sees: resolve outbound aliases as a 5.0 client must. */
function resolver (): (p: AnyPacket) => string {
  const map = new Map<number, string>()
  return (p) => {
    const alias = p.properties?.topicAlias as number | undefined
    if (alias === undefined) return p.topic
    if (p.topic !== '') {
      map.set(alias, p.topic)
      return p.topic
    }
    const known = map.get(alias)
    if (known === undefined) throw new Error(`alias ${alias} was never set`)
    return known
  }
}

t.test('an outbound alias is recorded only for a packet that was sent (too large: not sent, not recorded)', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5, properties: { topicAliasMaximum: 5, maximumPacketSize: 100 } })
  await c.subscribe('big', 1)
  await broker.publish({ topic: 'big', payload: Buffer.alloc(200), qos: 0 }) // dropped: over 100 bytes
  await broker.publish({ topic: 'big', payload: Buffer.alloc(200), qos: 1 }) // dropped too (QoS 1 path)
  await broker.publish({ topic: 'big', payload: 'small', qos: 0 })
  const p = await c.next('publish')
  t.equal(p.payload.toString(), 'small')
  t.equal(p.topic, 'big', 'the topic is sent with the alias: the client never saw one before')
  t.equal(p.properties.topicAlias, 1, 'the number of the dropped packet is reused')
  await broker.publish({ topic: 'big', payload: 'again', qos: 0 })
  const q = await c.next('publish')
  t.equal(q.topic, '')
  t.equal(q.properties.topicAlias, 1)
})

t.test('outbound aliases hold at most maxTopicAliasBytes, reassigning the least recently used', async (t) => {
  const broker = setup(t, { limits: { maxTopicAliasBytes: 3 * (10 + 64) } }) // room for three 10-char topics
  const c = await connect(t, broker, { protocolVersion: 5, properties: { topicAliasMaximum: 65535 } })
  await c.subscribe('#', 0)
  const seen: number[] = []
  const resolveTopic = resolver()
  const resolve = (p: AnyPacket): string => {
    if (p.properties?.topicAlias !== undefined) seen.push(p.properties.topicAlias as number)
    return resolveTopic(p)
  }
  const topics: string[] = []
  for (let i = 0; i < 200; i++) topics.push(`topic/${String(i).padStart(4, '0')}`)
  // a, b, c, then a again (recently used), then d: b is the least recently used and goes
  const order = [topics[0]!, topics[1]!, topics[2]!, topics[0]!, topics[3]!, topics[0]!, topics[2]!, topics[1]!]
  for (const topic of order) await broker.publish({ topic, payload: 'x' })
  const got: AnyPacket[] = []
  for (let i = 0; i < order.length; i++) got.push(await c.next('publish'))
  t.same(got.map(resolve), order, 'the client resolves every topic')
  t.same(got.map(p => p.topic === ''), [false, false, false, true, false, true, true, false], 'alias-only when still assigned; b was evicted')
  t.equal(got[4]!.properties.topicAlias, got[1]!.properties.topicAlias, "d took b's alias")
  for (const topic of topics) await broker.publish({ topic, payload: 'y' })
  for (const topic of topics) t.equal(resolve(await c.next('publish')), topic)
  // what the broker holds shows in what it sends: at most three topics go alias-only at a
  // time (3 × 74 bytes of budget), under numbers that stay low whatever the client allows
  for (const topic of topics.slice(196)) await broker.publish({ topic, payload: 'z' })
  const tail: AnyPacket[] = []
  for (let i = 0; i < 4; i++) tail.push(await c.next('publish'))
  for (const topic of topics.slice(196)) await broker.publish({ topic, payload: 'z' })
  for (let i = 0; i < 4; i++) tail.push(await c.next('publish'))
  t.same(tail.map(resolve), [...topics.slice(196), ...topics.slice(196)], 'resolved')
  t.ok(tail.filter((p) => p.topic === '').length <= 3, 'at most three topics kept')
  t.ok(seen.every((n) => n <= 4), `alias numbers stay low (${Math.max(...seen)})`)
})

t.test('topics longer than maxAliasedTopicLength are sent in full; maxTopicAliasBytes 0 turns aliases off', async (t) => {
  const broker = setup(t, { limits: { maxAliasedTopicLength: 8 } })
  const c = await connect(t, broker, { protocolVersion: 5, properties: { topicAliasMaximum: 10 } })
  await c.subscribe('#', 0)
  await broker.publish({ topic: 'long/topic', payload: '1' })
  await broker.publish({ topic: 'long/topic', payload: '2' })
  await broker.publish({ topic: 'short', payload: '3' })
  const [a, b, s] = [await c.next('publish'), await c.next('publish'), await c.next('publish')]
  t.equal(a.topic, 'long/topic')
  t.equal(a.properties?.topicAlias, undefined)
  t.equal(b.topic, 'long/topic')
  t.equal(s.properties.topicAlias, 1)
  const off = setup(t, { limits: { maxTopicAliasBytes: 0 } })
  const d = await connect(t, off, { protocolVersion: 5, properties: { topicAliasMaximum: 10 } })
  await d.subscribe('#', 0)
  await off.publish({ topic: 'x', payload: '1' })
  t.equal((await d.next('publish')).properties?.topicAlias, undefined)
})

t.test('[MQTT-3.1.0-1] a first packet that is not CONNECT is refused at its first byte', async (t) => {
  const broker = setup(t)
  const codes: string[] = []
  broker.on('clientError', (_c, e) => codes.push(e.code))
  const c = new TestClient(broker, 4)
  t.teardown(() => { c.stream.destroy() })
  c.sendRaw([0x30]) // the first byte of a PUBLISH announcing nothing yet
  await c.closed()
  t.same(codes, ['BROKER_ERR_CONNECT_FIRST'])
  t.equal(broker.pendingConnectionCount, 0)
})

t.test('the first packet is limited to maxConnectPacketSize, later ones to maxPacketSize', async (t) => {
  const broker = setup(t)
  const codes: string[] = []
  broker.on('clientError', (_c, e) => codes.push(e.code))
  const c = new TestClient(broker, 4)
  t.teardown(() => { c.stream.destroy() })
  c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'p', clean: true, keepalive: 0, username: 'u', password: Buffer.alloc(9000) })
  await c.closed()
  t.same(codes, ['BROKER_ERR_MALFORMED_PACKET'])
  t.equal(c.received.length, 0, 'nothing answered')
  const roomy = setup(t, { limits: { maxConnectPacketSize: 16384 } })
  const d = await connect(t, roomy, { username: 'u', password: Buffer.alloc(9000) })
  t.equal(d.connack.returnCode, 0, 'accepted with a larger limit')
  // after CONNECT the full maxPacketSize applies
  const e = await connect(t, broker, {})
  await e.subscribe('big', 1)
  e.publish('big', Buffer.alloc(100_000), 1)
  t.equal((await e.next('puback')).cmd, 'puback')
  t.equal((await e.next('publish')).payload.length, 100_000)
})

t.test('sockets without CONNECT do not count toward maxConnections and are bounded apart', async (t) => {
  const broker = setup(t, { limits: { maxConnections: 1, maxPendingConnections: 3, maxPendingPerAddress: 2 } })
  const codes: string[] = []
  broker.on('clientError', (_c, e) => codes.push(e.code))
  const silent = (addr: string): Duplex => {
    const [server, client] = duplexPair()
    t.teardown(() => { client.destroy() })
    client.on('data', () => {})
    broker.handle(server, { remoteAddress: addr })
    return server
  }
  const a1 = silent('10.0.0.1')
  silent('10.0.0.1')
  const a3 = silent('10.0.0.1')
  t.ok(a3.destroyed, 'a third socket from one address is closed at once')
  t.equal(broker.pendingConnectionCount, 2)
  const c = await connect(t, broker, {}) // from 127.0.0.1: the third pending one
  t.equal(c.connack.returnCode, 0, 'silent sockets do not take the only connection slot')
  t.equal(broker.pendingConnectionCount, 2)
  const b = silent('10.0.0.2')
  t.notOk(b.destroyed)
  const b2 = silent('10.0.0.3')
  t.ok(b2.destroyed, 'beyond maxPendingConnections')
  t.ok(codes.includes('BROKER_ERR_SERVER_BUSY'))
  a1.destroy()
  await delay(10)
  t.equal(broker.pendingConnectionCount, 2, 'a closed silent socket frees its place')
  const d = await connect(t, broker, {})
  t.equal(d.connack.returnCode, 3, 'the second CONNECT is over maxConnections')
})

t.test('more user properties than maxUserProperties / maxUserPropertyBytes: DISCONNECT 0x95', async (t) => {
  const broker = setup(t, { limits: { maxUserProperties: 4, maxUserPropertyBytes: 100 } })
  const sub = await connect(t, broker, {})
  await sub.subscribe('u', 0)
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.publish('u', 'ok', 0, false, { properties: { userProperties: { a: ['1', '2', '3', '4'] } } })
  t.equal((await sub.next('publish')).payload.toString(), 'ok')
  c.publish('u', 'no', 0, false, { properties: { userProperties: { a: ['1', '2', '3', '4', '5'] } } })
  t.equal((await c.next('disconnect')).reasonCode, 0x95)
  const d = await connect(t, broker, { protocolVersion: 5 })
  d.publish('u', 'no', 0, false, { properties: { userProperties: { a: 'x'.repeat(200) } } })
  t.equal((await d.next('disconnect')).reasonCode, 0x95)
})

t.test('[MQTT-3.3.4-6] [MQTT-3.3.2-14] a client PUBLISH with a Subscription Identifier or a wildcard Response Topic: 0x82', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, {})
  await sub.subscribe('r', 0)
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.publish('r', 'fine', 0, false, { properties: { responseTopic: 'reply/to/me' } })
  t.equal((await sub.next('publish')).payload.toString(), 'fine')
  c.publish('r', 'bad', 0, false, { properties: { subscriptionIdentifier: 5 } })
  t.equal((await c.next('disconnect')).reasonCode, 0x82)
  for (const responseTopic of ['reply/+', 'reply/#']) {
    const d = await connect(t, broker, { protocolVersion: 5 })
    d.publish('r', 'bad', 0, false, { properties: { responseTopic } })
    t.equal((await d.next('disconnect')).reasonCode, 0x82, responseTopic)
  }
  t.ok(await sub.nothing(50, 'publish'), 'none routed')
})

t.test('[MQTT-3.3.2-8] topic alias 0 gets DISCONNECT 0x94', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5 })
  // 5.0 PUBLISH 't' with Topic Alias 0 (mqtt-packet will not encode it)
  c.sendRaw([0x30, 0x07, 0x00, 0x01, 0x74, 0x03, 0x23, 0x00, 0x00])
  t.equal((await c.next('disconnect')).reasonCode, 0x94)
})

t.test('valid packets read before a malformed one are processed before the connection closes', async (t) => {
  const broker = setup(t, {
    // a slow hook keeps the handler busy while the rest of the read is parsed
    authorizePublish: async () => { await delay(20); return true }
  })
  const sub = await connect(t, broker, {})
  await sub.subscribe('k', 1)
  const c = await connect(t, broker, {})
  const ok1 = encode({ cmd: 'publish', topic: 'k', payload: Buffer.from('1'), qos: 1, messageId: 1, dup: false, retain: false })
  const ok2 = encode({ cmd: 'publish', topic: 'k', payload: Buffer.from('2'), qos: 1, messageId: 2, dup: false, retain: false })
  c.sendRaw(Buffer.concat([ok1, ok2, Buffer.from([0x00, 0x00])])) // then packet type 0: malformed
  t.same([(await c.next('puback')).messageId, (await c.next('puback')).messageId], [1, 2], 'both acknowledged')
  await c.closed()
  t.same([(await sub.next('publish')).payload.toString(), (await sub.next('publish')).payload.toString()], ['1', '2'])
})
