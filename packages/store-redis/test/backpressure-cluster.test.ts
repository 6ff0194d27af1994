/**
 * Backpressure across nodes on a real redis-server: in-process brokers, each with a RedisStore
 * and its own RedisBus, MQTT.js publishers over TCP. A subscriber on node B that stops
 * acknowledging fills its queue; node B then stops reading its inbox, node A holds the
 * acknowledgements of its QoS 1/2 publishers while B has more than `maxInboxBacklog` of its
 * publishes not stored, and
 * once the subscriber reads again every acknowledged message arrives, in order, QoS 2 once.
 */
import { connect as tcpConnect, createServer, type AddressInfo } from 'node:net'
import { encode, Parser, type Packet } from '@culex/packet'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Broker, describeSession, type BrokerOptions } from '@culex/broker'
import { Redis } from 'ioredis'
import { RedisBus, RedisStore } from '../src/index.ts'
import { until } from './cluster-helpers.ts'
import { startRedis } from './redis-server.ts'

interface Node { id: string, broker: Broker, bus: RedisBus, port: number }

async function startNode (t: Test, url: string, id: string, prefix: string, limits: BrokerOptions['limits'] = {}): Promise<Node> {
  const store = new RedisStore({ url, prefix })
  const bus = new RedisBus({ url, prefix, nodeId: id, heartbeatMs: 100, blockMs: 100, maxInboxBacklog: 50 })
  await bus.open()
  const broker = new Broker({ id, store, bus, sysInterval: 0, limits })
  const server = createServer((socket) => { broker.handle(socket) })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    await broker.close()
    await bus.close()
    await store.close()
  })
  return { id, broker, bus, port: (server.address() as AddressInfo).port }
}

async function client (t: Test, node: Node, clientId: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.port}`, { clientId, reconnectPeriod: 0 })
  t.teardown(() => { c.end(true) })
  return c
}

/**
 * A persistent subscriber over a raw socket (MQTT 3.1.1) that acknowledges nothing until
 * `resume()`: its broker's window towards it fills, then its queue. Payloads per topic in
 * arrival order go to `got`.
 */
async function slowSubscriber (t: Test, node: Node, clientId: string, filter: string): Promise<{ got: Map<string, string[]>, resume: () => void }> {
  const socket = tcpConnect(node.port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  const got = new Map<string, string[]>()
  const held: Packet[] = []
  let acking = false
  const ack = (p: Packet): void => {
    if (p.cmd !== 'publish') return
    if (p.qos === 1) socket.write(encode({ cmd: 'puback', messageId: p.messageId! }, 4))
    else if (p.qos === 2) socket.write(encode({ cmd: 'pubrec', messageId: p.messageId! }, 4))
  }
  let subscribed!: () => void
  const done = new Promise<void>((resolve) => { subscribed = resolve })
  const parser = new Parser({
    onPacket: (p: Packet) => {
      if (p.cmd === 'connack') socket.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 2 }] }, 4))
      else if (p.cmd === 'suback') subscribed()
      else if (p.cmd === 'pubrel') socket.write(encode({ cmd: 'pubcomp', messageId: p.messageId }, 4))
      else if (p.cmd === 'publish') {
        let list = got.get(p.topic)
        if (list === undefined) got.set(p.topic, (list = []))
        list.push(p.payload.toString())
        if (acking) ack(p)
        else held.push(p)
      }
    }
  })
  socket.on('data', (chunk) => { parser.parse(chunk) })
  socket.on('error', () => {})
  socket.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 0 }, 4))
  await done
  return {
    got,
    resume: () => {
      acking = true
      for (const p of held.splice(0)) ack(p)
    }
  }
}

t.test('a subscriber on node B that stops reading slows QoS 1/2 publishers on node A; B\'s queue and inbox stay bounded; once it reads again every acknowledged message arrives, in order', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const admin = new Redis(server.url)
  t.teardown(() => { admin.disconnect() })
  const maxQueuedMessages = 20
  const a = await startNode(t, server.url, 'A', 'bp1:')
  const b = await startNode(t, server.url, 'B', 'bp1:', { maxQueuedMessages, maxInflightOut: 10, stallTimeout: 0 })
  const sub = await slowSubscriber(t, b, 'slow', 'bp/#')
  t.ok(await until(() => a.bus.interested('bp/1')), 'A knows B\'s route')
  const pubs = [await client(t, a, 'pub-1'), await client(t, a, 'pub-2')]
  const n = 1000
  const acked: number[][] = [[], []]
  const sends: Array<Promise<unknown>> = []
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 2; k++) sends.push(pubs[k]!.publishAsync(`bp/${k + 1}`, String(i), { qos: (k + 1) as 1 | 2 }).then(() => { acked[k]!.push(i) }))
  }
  // the subscriber acknowledges nothing: its window (10) and queue (20) fill
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const info = describeSession(b.broker, 'slow')!
  const backlog = await admin.xlen('bp1:bus:{B}')
  t.comment(`after 1.5 s: acknowledged ${acked[0]!.length} QoS 1 and ${acked[1]!.length} QoS 2 of ${n} each; B: ${info.queued} queued, ${info.inflight} in flight; B's inbox ${backlog} entries; A held ${a.bus.stats.held} batches`)
  t.ok(acked[0]!.length < n / 2 && acked[1]!.length < n / 2, 'the publishers are slowed: most of their messages are not acknowledged')
  // what A took in before its acknowledgements were held (a 3.x publisher's socket chunks
  // are parsed whole: hundreds of messages) lands in B's queue beyond its bound, then nothing
  t.ok(info.queued + info.inflight < n, `B's queue for the subscriber stays bounded (${info.queued} queued + ${info.inflight} in flight, of ${2 * n} published)`)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const later = describeSession(b.broker, 'slow')!
  t.equal(later.queued + later.inflight, info.queued + info.inflight, 'and does not grow while the subscriber reads nothing')
  t.ok(acked[0]!.length < n / 2 && acked[1]!.length < n / 2, 'nor are more messages acknowledged')
  t.ok(backlog < 100, `B's inbox stays small (${backlog} entries)`)
  t.ok(a.bus.stats.held > 0, 'A held acknowledgements')
  t.equal(a.bus.stats.dropped, 0, 'no QoS 0 was dropped (none was sent)')
  sub.resume()
  await Promise.all(sends)
  t.pass('every publish acknowledged once the subscriber reads again')
  const want = Array.from({ length: n }, (_, i) => String(i))
  t.ok(await until(() => (sub.got.get('bp/1')?.length ?? 0) >= n && (sub.got.get('bp/2')?.length ?? 0) >= n, 20_000), 'all arrive')
  await new Promise((resolve) => setTimeout(resolve, 200)) // duplicates would arrive meanwhile
  const firsts = (list: string[]): string[] => [...new Set(list)]
  t.same(firsts(sub.got.get('bp/1')!), want, 'QoS 1: every message, in order')
  t.same(sub.got.get('bp/2'), want, 'QoS 2: every message once, in order')
  t.equal(b.bus.stats.storeFailures, 0)
})

t.test('QoS 0 is never held: to a node beyond maxInboxBacklog it is dropped and counted', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const a = await startNode(t, server.url, 'A', 'bp2:')
  const b = await startNode(t, server.url, 'B', 'bp2:', { maxQueuedMessages: 20, maxInflightOut: 10, stallTimeout: 0 })
  const sub = await slowSubscriber(t, b, 'slow', 'bp/#')
  t.ok(await until(() => a.bus.interested('bp/1')), 'A knows B\'s route')
  const pub1 = await client(t, a, 'pub-1')
  const pub0 = await client(t, a, 'pub-0')
  // QoS 1 fills B's queue and inbox
  for (let i = 0; i < 300; i++) pub1.publishAsync('bp/1', String(i), { qos: 1 }).catch(() => {})
  t.ok(await until(() => a.bus.stats.held > 0), 'B\'s inbox went beyond its bound')
  const start = Date.now()
  for (let i = 0; i < 50; i++) await pub0.publishAsync('bp/0', String(i), { qos: 0 })
  // a QoS 0 publish is never held: a round trip each
  await pub0.publishAsync('bp/x', 'ping', { qos: 0 })
  t.ok(Date.now() - start < 5000, `50 QoS 0 publishes went through while B is beyond its bound (${Date.now() - start} ms)`)
  t.ok(await until(() => a.bus.stats.dropped > 0), `QoS 0 publishes to B dropped and counted (${a.bus.stats.dropped})`)
  sub.resume()
  t.ok(await until(() => (sub.got.get('bp/1')?.length ?? 0) >= 300, 20_000), 'the QoS 1 messages all arrive once the subscriber reads')
})
