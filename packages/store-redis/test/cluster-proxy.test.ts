/**
 * The Paho interoperability scenarios (eclipse/paho.mqtt.testing client_test.py and
 * client_test5.py: plain pub/sub, retained, will, topic alias, offline queueing, redelivery on
 * reconnect, session expiry, takeover) played by MQTT.js clients against three real
 * `culex --cluster` nodes behind the test kit's round-robin TCP proxy, as an operator runs a
 * cluster behind a load balancer: a client's next connection lands on another node.
 *
 * A Clean Start 0 reconnect that lands on another node gets Session Present 1 and what was
 * queued for it (session handoff between nodes).
 */
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { culexMissing, redisMissing, startCulexCluster, type CulexCluster } from '@culex/test-kit'
import { sleep, until, untilRouted } from './cluster-helpers.ts'

interface Via { c: MqttClient, node: number, sessionPresent: boolean, got: Got[] }

/**
 * Connect through the proxy, the connection going to node `node` (0-based): its index in the
 * round robin. Messages on topics starting with `collect` are gathered in `got` from the
 * start: a resumed session's queue may arrive in the same TCP segment as the CONNACK.
 */
async function via (t: Test, cl: CulexCluster, node: number, opts: mqtt.IClientOptions, collect?: string): Promise<Via> {
  cl.proxy.next = node
  const c = mqtt.connect(cl.proxy.url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => { c.end(true) })
  const got = collect === undefined ? [] : inbox(c, collect)
  const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
    c.once('connect', resolve)
    c.once('error', reject)
  })
  c.on('error', () => {})
  const port = cl.proxy.routed[cl.proxy.routed.length - 1]!
  return { c, node: cl.nodes.findIndex((n) => n.port === port), sessionPresent: connack.sessionPresent, got }
}

/** A message as the client's application sees it (the topic of an alias resolved). */
interface Got { topic: string, payload: string, qos: number, retain: boolean, dup: boolean }

/** Messages `c` receives on topics under `prefix`, in order. */
function inbox (c: MqttClient, prefix: string): Got[] {
  const got: Got[] = []
  c.on('message', (topic, payload, packet) => {
    if (topic.startsWith(prefix)) got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, dup: packet.dup })
  })
  return got
}

/** `c` receives QoS 1 messages but never sends their PUBACK (as Paho's redelivery test client). */
function withholdPubacks (c: MqttClient): void {
  const raw = c as unknown as { _sendPacket: (packet: { cmd: string }, cb?: () => void, ...rest: unknown[]) => void }
  const send = raw._sendPacket.bind(c)
  raw._sendPacket = (packet, cb, ...rest) => {
    if (packet.cmd === 'puback') cb?.()
    else send(packet, cb, ...rest)
  }
}

const payloads = (got: Got[]): string[] => got.map((p) => p.payload)
/** The client's socket destroyed: an abnormal end, as when a network fails. */
const cut = async (c: MqttClient): Promise<void> => {
  const closed = new Promise<void>((resolve) => c.once('close', () => { resolve() }))
  c.stream.destroy()
  await closed
  c.end(true)
}

t.test('Paho scenarios through a round-robin proxy in front of three culex --cluster nodes', { skip: culexMissing() || redisMissing(), timeout: 90_000 }, async (t) => {
  const cl = await startCulexCluster(t)
  const v5 = { protocolVersion: 5 as const }

  await t.test('plain pub/sub: QoS 0, 1, 2 from one node to subscribers on the two others', async (t) => {
    const s1 = await via(t, cl, 1, v5)
    const s2 = await via(t, cl, 2, {})
    const p = await via(t, cl, 0, v5)
    t.same([p.node, s1.node, s2.node], [0, 1, 2], 'one client on each node')
    const got = [inbox(s1.c, 'plain/'), inbox(s2.c, 'plain/')]
    await s1.c.subscribeAsync('plain/#', { qos: 2 })
    await s2.c.subscribeAsync('plain/#', { qos: 2 })
    t.ok(await untilRouted(p.c, [s1.c, s2.c], 'plain/probe'), 'routed')
    got.forEach((g) => g.splice(0))
    for (const qos of [0, 1, 2] as const) await p.c.publishAsync(`plain/${qos}`, `q${qos}`, { qos })
    await until(() => got.every((g) => g.length >= 3), 5000)
    for (const g of got) t.same(g.map((m) => [m.topic, m.payload, m.qos]), [['plain/0', 'q0', 0], ['plain/1', 'q1', 1], ['plain/2', 'q2', 2]])
  })

  await t.test('retained: a message retained on one node is sent to a subscriber on another', async (t) => {
    const p = await via(t, cl, 0, {})
    await p.c.publishAsync('retained/a', 'kept', { qos: 1, retain: true })
    const s = await via(t, cl, 1, {})
    const got = inbox(s.c, 'retained/')
    await s.c.subscribeAsync('retained/#', { qos: 1 })
    await until(() => got.length >= 1, 5000)
    t.same(got.map((m) => [m.topic, m.payload, m.retain]), [['retained/a', 'kept', true]])
    await p.c.publishAsync('retained/a', '', { qos: 1, retain: true })
  })

  await t.test('will: a client cut off on one node has its will published to a subscriber on another', async (t) => {
    const s = await via(t, cl, 2, v5)
    const got = inbox(s.c, 'will/')
    await s.c.subscribeAsync('will/#', { qos: 1 })
    const w = await via(t, cl, 0, { ...v5, clientId: 'will-1', will: { topic: 'will/1', payload: Buffer.from('gone'), qos: 1, retain: false } })
    t.ok(await untilRouted(w.c, [s.c], 'will/probe'), 'routed')
    got.splice(0)
    await cut(w.c)
    await until(() => got.length >= 1, 5000)
    t.same(payloads(got), ['gone'])
  })

  await t.test('topic alias (5.0): aliases set on one node reach a subscriber on another by their topic', async (t) => {
    const s = await via(t, cl, 1, { ...v5, properties: { topicAliasMaximum: 10 } })
    const got = inbox(s.c, 'alias/')
    await s.c.subscribeAsync('alias/#', { qos: 1 })
    const p = await via(t, cl, 2, { ...v5, properties: { topicAliasMaximum: 10 } })
    t.ok(await untilRouted(p.c, [s.c], 'alias/probe'), 'routed')
    got.splice(0)
    await p.c.publishAsync('alias/topic', 'one', { qos: 1, properties: { topicAlias: 1 } })
    await p.c.publishAsync('', 'two', { qos: 1, properties: { topicAlias: 1 } })
    await until(() => got.length >= 2, 5000)
    t.same(got.map((m) => [m.topic, m.payload]), [['alias/topic', 'one'], ['alias/topic', 'two']])
  })

  await t.test('the balancer drops every connection: clean sessions reconnect through it to other nodes, resubscribe, and pub/sub goes on', async (t) => {
    const s = await via(t, cl, 0, { ...v5, reconnectPeriod: 100 })
    const p = await via(t, cl, 1, { ...v5, reconnectPeriod: 100 })
    const got = inbox(s.c, 'drop/')
    await s.c.subscribeAsync('drop/#', { qos: 1 })
    t.ok(await untilRouted(p.c, [s.c], 'drop/probe'), 'routed')
    const seen = cl.proxy.routed.length
    const back = Promise.all([s.c, p.c].map(async (c) => { await new Promise((resolve) => c.once('connect', resolve)) }))
    cl.proxy.next = 2
    t.ok(cl.proxy.dropAll() >= 2, 'connections cut')
    await back
    const landed = cl.proxy.routed.slice(seen).map((port) => cl.nodes.findIndex((n) => n.port === port))
    t.equal(landed.length, 2, 'two reconnects through the proxy')
    // the first reconnect goes to node 3, which neither was on, the second to node 1
    t.same([...landed].sort(), [0, 2], `reconnected to nodes ${landed.map((n) => n + 1).join(' and ')} (were on nodes 1 and 2)`)
    t.ok(await untilRouted(p.c, [s.c], 'drop/probe'), 'routed again after the resubscribe')
    got.splice(0)
    for (let i = 0; i < 20; i++) await p.c.publishAsync('drop/x', String(i), { qos: 1 })
    await until(() => got.length >= 20, 5000)
    t.same(payloads(got), Array.from({ length: 20 }, (_, i) => String(i)), '20 QoS 1 messages after the drop, in order')
  })

  await t.test('offline queueing: messages published while a session is offline arrive when it reconnects on another node', async (t) => {
    const opts = { ...v5, clientId: 'offline-1', clean: false, properties: { sessionExpiryInterval: 60 } }
    const a = await via(t, cl, 0, opts)
    await a.c.subscribeAsync('offline/#', { qos: 2 })
    const p = await via(t, cl, 1, {})
    t.ok(await untilRouted(p.c, [a.c], 'offline/probe'), 'routed')
    await a.c.endAsync()
    for (const qos of [0, 1, 2] as const) await p.c.publishAsync(`offline/${qos}`, `q${qos}`, { qos })
    const b = await via(t, cl, 2, opts, 'offline/')
    t.not(b.node, a.node, 'the reconnect lands on another node')
    const got = b.got
    await until(() => got.length >= 2, 2000)
    t.equal(b.sessionPresent, true, 'Session Present 1')
    // the QoS 0 one may be queued too [MQTT-3.1.2.5]; the QoS 1 and 2 ones must be
    t.same(payloads(got).filter((x) => x !== 'q0' && x !== 'probe'), ['q1', 'q2'], 'the QoS 1 and 2 messages published while offline')
  })

  await t.test('redelivery on reconnect: unacknowledged messages are sent again (DUP) to the session on another node', async (t) => {
    const opts = { ...v5, clientId: 'redeliver-1', clean: false, properties: { sessionExpiryInterval: 60 } }
    const a = await via(t, cl, 1, opts)
    withholdPubacks(a.c)
    const first = inbox(a.c, 'redeliver/')
    await a.c.subscribeAsync('redeliver/#', { qos: 1 })
    const p = await via(t, cl, 2, {})
    t.ok(await untilRouted(p.c, [a.c], 'redeliver/probe'), 'routed')
    first.splice(0)
    await p.c.publishAsync('redeliver/1', 'r1', { qos: 1 })
    await p.c.publishAsync('redeliver/2', 'r2', { qos: 1 })
    await until(() => first.length >= 2, 5000)
    t.same(payloads(first), ['r1', 'r2'], 'delivered once, not acknowledged')
    await cut(a.c)
    const b = await via(t, cl, 0, opts, 'redeliver/')
    t.not(b.node, a.node, 'the reconnect lands on another node')
    const again = b.got
    await until(() => again.length >= 2, 2000)
    t.equal(b.sessionPresent, true, 'Session Present 1')
    t.same(again.map((m) => [m.payload, m.dup]), [['r1', true], ['r2', true]], 'both sent again with DUP')
  })

  await t.test('session expiry (5.0): an expired session is gone on every node, a live one is resumed on another node', async (t) => {
    const short = { ...v5, clientId: 'expiry-short', clean: false, properties: { sessionExpiryInterval: 1 } }
    const long = { ...v5, clientId: 'expiry-long', clean: false, properties: { sessionExpiryInterval: 60 } }
    const a1 = await via(t, cl, 0, short)
    const a2 = await via(t, cl, 0, long)
    await a1.c.subscribeAsync('expiry/#', { qos: 1 })
    await a2.c.subscribeAsync('expiry/#', { qos: 1 })
    const p = await via(t, cl, 1, {})
    t.ok(await untilRouted(p.c, [a1.c, a2.c], 'expiry/probe'), 'routed')
    await a1.c.endAsync()
    await a2.c.endAsync()
    await p.c.publishAsync('expiry/x', 'x', { qos: 1 })
    await sleep(2000) // past the 1 s expiry
    const b1 = await via(t, cl, 2, short)
    const b2 = await via(t, cl, 2, long, 'expiry/')
    t.equal(b1.sessionPresent, false, 'the session with expiry 1 s is gone: Session Present 0')
    const got = b2.got
    await until(() => got.length >= 1, 2000)
    t.equal(b2.sessionPresent, true, 'the session with expiry 60 s is resumed: Session Present 1')
    t.same(payloads(got), ['x'], 'with the message queued for it')
  })

  await t.test('takeover: the same client id connecting on another node closes the first connection (0x8E) and gets its session', async (t) => {
    const opts = { ...v5, clientId: 'takeover-1', clean: false, properties: { sessionExpiryInterval: 60 } }
    const a = await via(t, cl, 1, opts)
    await a.c.subscribeAsync('takeover/#', { qos: 1 })
    const reason = new Promise<number | undefined>((resolve) => {
      a.c.once('disconnect', (packet) => { resolve(packet.reasonCode) })
      a.c.once('close', () => { resolve(undefined) })
    })
    const b = await via(t, cl, 2, opts, 'takeover/')
    t.not(b.node, a.node, 'the second connection lands on another node')
    t.equal(await Promise.race([reason, sleep(5000).then(() => -1)]), 0x8e, 'the first connection gets DISCONNECT 0x8E Session taken over')
    t.equal(b.sessionPresent, true, 'Session Present 1')
    const got = b.got
    const p = await via(t, cl, 0, {})
    for (const end = Date.now() + 2000; got.length === 0 && Date.now() < end;) {
      await p.c.publishAsync('takeover/x', 'x', { qos: 1 })
      await sleep(100)
    }
    t.ok(got.length > 0, 'its subscription moved with it')
  })
})
