/**
 * Cluster-wide shared subscriptions on a real redis-server: in-process brokers, each with a
 * RedisStore and its own RedisBus, MQTT.js clients over TCP. A message goes to exactly one
 * member of a group anywhere in the cluster, spread over the members; with members only on
 * other nodes nothing is lost; a member that drops with QoS 1 messages unacknowledged has them
 * given to a member on another node. The bus's groups on a Redis Cluster too.
 */
import { connect as tcpConnect, createServer, type AddressInfo, type Socket } from 'node:net'
import { encode, Parser, type Packet } from '@culex/packet'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Broker, type BusMessage } from '@culex/broker'
import { RedisBus, RedisStore } from '../src/index.ts'
import { until } from './cluster-helpers.ts'
import { startRedis, startRedisCluster } from './redis-server.ts'

interface Node { id: string, broker: Broker, bus: RedisBus, port: number }

async function startNode (t: Test, url: string, id: string, prefix: string): Promise<Node> {
  const store = new RedisStore({ url, prefix })
  const bus = new RedisBus({ url, prefix, nodeId: id, heartbeatMs: 100, blockMs: 100 })
  await bus.open()
  const broker = new Broker({ id, store, bus, sysInterval: 0 })
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

async function client (t: Test, node: Node, clientId: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.port}`, { clientId, reconnectPeriod: 0, ...opts })
  t.teardown(() => { c.end(true) })
  return c
}

/**
 * A member over a raw socket that never acknowledges: every PUBLISH's payload goes to `held`.
 * Resolves once subscribed.
 */
async function silentMember (t: Test, node: Node, clientId: string, filter: string, held: string[]): Promise<Socket> {
  const socket = tcpConnect(node.port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  let subscribed!: () => void
  const done = new Promise<void>((resolve) => { subscribed = resolve })
  const parser = new Parser({
    onPacket: (p: Packet) => {
      if (p.cmd === 'connack') socket.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }, 4))
      else if (p.cmd === 'suback') subscribed()
      else if (p.cmd === 'publish') held.push(p.payload.toString())
    }
  })
  socket.on('data', (chunk) => { parser.parse(chunk) })
  socket.on('error', () => {})
  socket.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 }, 4))
  await done
  return socket
}

/** Wait until `on` picks each of `nodes` for `share` (its table holds their members). */
async function knows (on: Node, share: string, nodes: string[]): Promise<boolean> {
  return until(() => {
    const seen = new Set<string>()
    for (let i = 0; i < 4 * nodes.length; i++) {
      const p = on.bus.pickShares(share.slice(share.indexOf('/', 7) + 1).replace('#', 'x').replace('+', 'x'))
      for (const [k, node] of p ?? []) if (k === share) seen.add(node)
    }
    return nodes.every((n) => seen.has(n)) && seen.size === nodes.length
  })
}

t.test('members on three nodes, publishers on a fourth and on a member node: each message to exactly one member, spread over all', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const [a, b, c, d] = await Promise.all(['A', 'B', 'C', 'D'].map((id) => startNode(t, server.url, id, 'share1:')))
  const share = '$share/work/jobs/#'
  // A has two members, B and C one each: A gets half of the messages, each member a quarter
  const members = await Promise.all([client(t, a!, 'a1'), client(t, a!, 'a2'), client(t, b!, 'b1'), client(t, c!, 'c1')])
  const got = new Map<string, string[]>()
  for (const m of members) {
    const list: string[] = []
    got.set(m.options.clientId!, list)
    m.on('message', (_topic, payload) => { list.push(payload.toString()) })
    await m.subscribeAsync(share, { qos: 1 })
  }
  t.ok(await knows(d!, share, ['A', 'B', 'C']), 'D knows the members of A, B and C')
  t.ok(await knows(b!, share, ['A', 'B', 'C']), 'B knows them too, its own included')
  const pubD = await client(t, d!, 'pub-d')
  const pubB = await client(t, b!, 'pub-b')
  const n = 400
  for (let i = 0; i < n; i++) await (i % 4 === 3 ? pubB : pubD).publishAsync(`jobs/${i % 7}`, String(i), { qos: 1 })
  const total = (): number => [...got.values()].reduce((s, l) => s + l.length, 0)
  t.ok(await until(() => total() >= n), `all ${n} delivered`)
  await new Promise((resolve) => setTimeout(resolve, 300)) // duplicates would arrive meanwhile
  const count = new Map<string, number>()
  for (const list of got.values()) for (const id of list) count.set(id, (count.get(id) ?? 0) + 1)
  t.equal(count.size, n, 'every message delivered')
  t.same([...count.values()].filter((k) => k !== 1), [], 'each exactly once across the group')
  const shares = Object.fromEntries([...got].map(([id, list]) => [id, list.length]))
  t.comment(`per member: ${JSON.stringify(shares)}`)
  for (const [id, k] of Object.entries(shares)) t.ok(k >= n * 0.15 && k <= n * 0.35, `${id} got a share (${k} of ${n}, about a quarter)`)
})

t.test('members only on another node than the publisher: none lost; a plain subscriber there gets its own copy', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const [a, b] = await Promise.all(['A', 'B'].map((id) => startNode(t, server.url, id, 'share2:')))
  const member = await client(t, b!, 'm1', { protocolVersion: 5 })
  const plain = await client(t, b!, 'p1', { protocolVersion: 5 })
  const shared: string[] = []
  const direct: string[] = []
  member.on('message', (_topic, payload) => { shared.push(payload.toString()) })
  plain.on('message', (_topic, payload) => { direct.push(payload.toString()) })
  await member.subscribeAsync('$share/g/q/+', { qos: 1 })
  await plain.subscribeAsync('q/+', { qos: 1 })
  t.ok(await knows(a!, '$share/g/q/+', ['B']), 'A knows B\'s member')
  t.ok(await until(() => a!.bus.interested('q/1')), 'A knows B\'s route')
  const pub = await client(t, a!, 'pub')
  const n = 1000
  const sends: Array<Promise<unknown>> = []
  for (let i = 0; i < n; i++) sends.push(pub.publishAsync('q/1', String(i), { qos: i % 2 === 0 ? 1 : 0 }))
  await Promise.all(sends)
  t.ok(await until(() => shared.length >= n && direct.length >= n), 'every message crossed')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(new Set(shared).size, n, 'the member got each one')
  t.equal(shared.length, n, 'once')
  t.equal(direct.length, n, 'the plain subscriber got each once too')
})

t.test('a member that drops with QoS 1 messages unacknowledged: they go to a member on another node', { timeout: 60_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((id) => startNode(t, server.url, id, 'share3:')))
  const share = '$share/g/r/#'
  // on A, a member that never acknowledges
  const held: string[] = []
  const silent = await silentMember(t, a!, 'silent', share, held)
  const got: string[] = []
  const other = await client(t, b!, 'other')
  other.on('message', (_topic, payload) => { got.push(payload.toString()) })
  await other.subscribeAsync(share, { qos: 1 })
  t.ok(await knows(c!, share, ['A', 'B']), 'C knows both members')
  const pub = await client(t, c!, 'pub')
  const n = 40
  for (let i = 0; i < n; i++) await pub.publishAsync('r/1', String(i), { qos: 1 })
  t.ok(await until(() => held.length + got.length >= n), 'all delivered once')
  t.ok(held.length >= n / 4 && got.length >= n / 4, `both members got some (${held.length} held, ${got.length} acknowledged)`)
  const before = got.length
  silent.destroy() // the socket closes: its unacknowledged messages are redistributed
  t.ok(await until(() => got.length >= n), 'the other member got the held ones')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(got.slice(before).sort(), [...held].sort(), 'exactly the messages the dropped member held')
  t.same([...got].sort((x, y) => Number(x) - Number(y)), Array.from({ length: n }, (_, i) => String(i)), 'every message once at the remaining member')
})

t.test('on a Redis Cluster: groups announced, picked and served across nodes; a closed node leaves its groups', { timeout: 60_000 }, async (t) => {
  const cluster = await startRedisCluster()
  t.teardown(() => cluster.destroy())
  const a = new RedisBus({ url: cluster.url, nodeId: 'A', heartbeatMs: 100, blockMs: 100 })
  const b = new RedisBus({ url: cluster.url, nodeId: 'B', heartbeatMs: 100, blockMs: 100 })
  t.teardown(async () => { await Promise.all([a.close(), b.close()]) })
  const got: BusMessage[] = []
  b.onMessage((m) => { got.push(m) })
  await Promise.all([a.open(), b.open()])
  b.setShare('$share/g/c/#', 1, 1)
  t.ok(await until(() => a.pickShare('$share/g/c/#', 'A') === 'B'), 'A learns B\'s group')
  const picks = a.pickShares('c/1')
  t.same(picks, [['$share/g/c/#', 'B']], 'A picks B')
  await a.send({ type: 'publish', nodeId: 'A', message: { topic: 'c/1', payload: Buffer.from('x'), qos: 1, retain: false }, shares: picks! })
  t.ok(await until(() => got.length === 1), 'B gets the publish through its inbox')
  t.same(got[0]!.type === 'publish' ? got[0]!.shares : null, [['$share/g/c/#', 'B']], 'with its pick')
  await b.close()
  t.ok(await until(() => a.pickShares('c/1') === null), 'B\'s groups leave with it')
})
