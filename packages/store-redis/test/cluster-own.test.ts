/**
 * Session ownership across cluster nodes (issue #14 items 1–3): brokers in one process, each
 * with its own RedisStore and RedisBus on one real redis-server. Clients are scripted MQTT 5
 * clients over in-memory streams (@culex/packet encodes and decodes), so every PUBACK, PUBREC,
 * PUBREL and PUBCOMP is under the test's control.
 *
 * - a takeover race on two nodes: exactly one survivor, every time;
 * - a persistent session moves to another node with everything it had;
 * - after a restart a node holds only its own sessions; an offline session gets each message once;
 * - Clean Start 1 on another node discards the session everywhere;
 * - a previous owner alive but silent: the connection is refused (0x88), not half resumed;
 * - on a Redis Cluster (3 masters): the claim script and the addressed inbox messages work
 *   across slots: a race leaves one survivor, a session moves with its queue.
 */
import t, { type Test } from 'tap'
import { Broker } from '@culex/broker'
import { RedisBus, RedisStore } from '../src/index.ts'
import { sleep, until } from './cluster-helpers.ts'
import { Client } from './scripted-client.ts'
import { startRedis, startRedisCluster } from './redis-server.ts'

const server = await startRedis()
t.teardown(() => server.destroy())
let prefixes = 0

interface Node { broker: Broker, store: RedisStore, bus: RedisBus }

/** A broker node on the shared Redis (keys under `prefix`), closed at teardown. */
async function startNode (t: Test, id: string, prefix: string, url = server.url): Promise<Node> {
  const store = new RedisStore({ url, prefix })
  const bus = new RedisBus({ url, nodeId: id, prefix, heartbeatMs: 100 })
  await bus.open()
  const broker = new Broker({ store, bus, sysInterval: 0 })
  await broker.ready()
  let closed = false
  const stop = async (): Promise<void> => {
    if (closed) return
    closed = true
    await broker.close()
    await bus.close()
    await store.close()
  }
  t.teardown(stop)
  return Object.assign({ broker, store, bus }, { stop })
}

t.test('takeover race on two nodes: the same client id on both at once, exactly one survivor every time', { timeout: 120_000 }, async (t) => {
  const prefix = `race${prefixes++}:`
  const a = await startNode(t, 'race-a', prefix)
  const b = await startNode(t, 'race-b', prefix)
  const trials = 50
  let one = 0
  const owners = new Set<string>()
  for (let i = 0; i < trials; i++) {
    const clean = i % 2 === 0
    const ca = new Client(a.broker)
    const cb = new Client(b.broker)
    const connect = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'racer', clean, keepalive: 0, properties: { sessionExpiryInterval: 60 } }
    ca.send(connect)
    cb.send(connect)
    // the loser is closed (after its CONNACK or before); the survivor stays open
    const acked = (c: Client): boolean => c.received.some((p) => p.cmd === 'connack' && p.reasonCode === 0)
    await ca.until(() => [ca, cb].filter((c) => c.closed).length >= 1 && [ca, cb].every((c) => c.closed || acked(c)), 10_000)
    await sleep(150)
    const open = [ca, cb].filter((c) => !c.closed)
    const survivors = open.filter(acked)
    if (open.length === 1 && survivors.length === 1) one++
    else t.fail(`trial ${i}: ${open.length} open, ${survivors.length} acknowledged`)
    const owner = await a.store.sessionOwner('racer')
    const winner = open[0] === ca ? 'race-a' : 'race-b'
    if (open.length === 1 && owner?.nodeId !== winner) t.fail(`trial ${i}: the survivor is on ${winner}, the owner recorded is ${owner?.nodeId}`)
    if (owner !== null) owners.add(owner.nodeId)
    for (const c of open) {
      c.send({ cmd: 'disconnect', reasonCode: 0 })
      await c.until(() => c.closed)
    }
  }
  t.equal(one, trials, `exactly one survivor in each of ${trials} trials`)
  t.same([...owners].sort(), ['race-a', 'race-b'], 'both nodes won some trials')
})

t.test('a persistent session moves to another node with everything: queue, in-flight (DUP), PUBREL state, incoming QoS 2 ids; no duplicate', { timeout: 60_000 }, async (t) => {
  const prefix = `move${prefixes++}:`
  const a = await startNode(t, 'move-a', prefix)
  const b = await startNode(t, 'move-b', prefix)
  const p = await startNode(t, 'move-p', prefix)

  // an observer of what the mover publishes, on the third node
  const obs = new Client(p.broker)
  t.equal((await obs.connect('observer', true, 0)).reasonCode, 0)
  obs.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'in/#', qos: 2 }] })
  await obs.next('suback')
  const pub = new Client(p.broker)
  await pub.connect('publisher', true, 0)
  let pid = 1
  const publish = async (topic: string, qos: 1 | 2): Promise<void> => {
    const messageId = pid++
    pub.send({ cmd: 'publish', topic, payload: Buffer.from(topic), qos, messageId, retain: false, dup: false })
    if (qos === 1) {
      await pub.next('puback')
      return
    }
    await pub.next('pubrec')
    pub.send({ cmd: 'pubrel', messageId })
    await pub.next('pubcomp')
  }

  const x = new Client(a.broker)
  const ack = await x.connect('mover', false)
  t.equal(ack.sessionPresent, false)
  x.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'm/#', qos: 2 }] })
  await x.next('suback')
  // the route reaches the publisher's node
  t.ok(await x.until(() => p.bus.interested('m/1'), 5000), 'node p routes m/# to node a')
  await publish('m/q1', 1)
  const q1 = await x.next('publish') // not acknowledged: in flight
  t.equal(q1.topic, 'm/q1')
  await publish('m/q2', 2)
  const q2 = await x.next('publish')
  t.equal(q2.topic, 'm/q2')
  x.send({ cmd: 'pubrec', messageId: q2.messageId })
  const rel = await x.next('pubrel') // PUBCOMP withheld: PUBREL state
  t.equal(rel.messageId, q2.messageId)
  // an incoming QoS 2 message, PUBREL withheld: its id must be remembered
  x.send({ cmd: 'publish', topic: 'in/x', payload: Buffer.from('once'), qos: 2, messageId: 77, retain: false, dup: false })
  await x.next('pubrec')
  t.ok(await obs.until(() => obs.received.some((m) => m.cmd === 'publish' && m.topic === 'in/x')), 'the observer got in/x')
  x.destroy()
  await sleep(100)
  // offline now: queued by its owner, node a, only
  await publish('m/off1', 1)
  await publish('m/off2', 2)
  // node a queues what it reads from its inbox; its read of m/off2 may come a moment after
  // the publisher's ack (it reads on once m/off1's write is done)
  let stored = await a.store.outgoing('mover', Date.now())
  for (let i = 0; i < 100 && stored.length < 4; i++) {
    await sleep(20)
    stored = await a.store.outgoing('mover', Date.now())
  }
  t.same(stored.map((r) => [r.message.topic, r.state]), [['m/q1', 'sent'], ['m/q2', 'pubrel'], ['m/off1', 'queued'], ['m/off2', 'queued']], 'each message stored once: in flight, PUBREL state, then the queue')

  const y = new Client(b.broker)
  const ack2 = await y.connect('mover', false)
  t.equal(ack2.reasonCode, 0)
  t.equal(ack2.sessionPresent, true, 'Session Present 1 on the other node')
  t.same(await b.store.sessionOwner('mover'), { nodeId: 'move-b', epoch: 2 }, 'node b owns it now')
  const d1 = await y.next('publish')
  t.match(d1, { topic: 'm/q1', qos: 1, dup: true, messageId: q1.messageId }, 'unacknowledged QoS 1 resent with DUP and its packet id')
  const d2 = await y.next('pubrel')
  t.equal(d2.messageId, q2.messageId, 'the PUBREL of the QoS 2 message in PUBREL state')
  const d3 = await y.next('publish')
  const d4 = await y.next('publish')
  t.same([d3.topic, d4.topic], ['m/off1', 'm/off2'], 'the queue, in order')
  y.send({ cmd: 'puback', messageId: d1.messageId })
  y.send({ cmd: 'pubcomp', messageId: d2.messageId })
  y.send({ cmd: 'puback', messageId: d3.messageId })
  y.send({ cmd: 'pubrec', messageId: d4.messageId })
  const rel4 = await y.next('pubrel')
  y.send({ cmd: 'pubcomp', messageId: rel4.messageId })
  // the incoming QoS 2 id came along: the resent PUBLISH is not routed again
  y.send({ cmd: 'publish', topic: 'in/x', payload: Buffer.from('once'), qos: 2, messageId: 77, retain: false, dup: true })
  await y.next('pubrec')
  y.send({ cmd: 'pubrel', messageId: 77 })
  const comp = await y.next('pubcomp')
  t.equal(comp.reasonCode ?? 0, 0, 'PUBCOMP success: the id was known')
  // live traffic reaches the new owner, once
  await publish('m/live', 2)
  const live = await y.next('publish')
  t.equal(live.topic, 'm/live')
  y.send({ cmd: 'pubrec', messageId: live.messageId })
  y.send({ cmd: 'pubcomp', messageId: (await y.next('pubrel')).messageId })
  await sleep(300)
  t.same(y.received.filter((m) => m.cmd === 'publish').map((m) => m.topic), [], 'nothing twice')
  t.equal(obs.received.filter((m) => m.cmd === 'publish' && m.topic === 'in/x').length, 1, 'in/x routed once')
  t.same(await b.store.outgoing('mover', Date.now()), [], 'nothing left in the store')
  y.destroy()
  await sleep(100)
  await publish('m/after', 1)
  // node b's queue write may land a moment after the publisher's ack (see above)
  for (let i = 0; i < 100 && (await b.store.outgoing('mover', Date.now())).length === 0; i++) await sleep(20)
  await sleep(100) // a second copy would be queued meanwhile
  t.same((await b.store.outgoing('mover', Date.now())).map((r) => r.message.topic), ['m/after'], 'offline again: queued once (by node b; node a let go)')
})

t.test('after a restart a node holds only its own sessions; an offline session receives each message once', { timeout: 60_000 }, async (t) => {
  const prefix = `restart${prefixes++}:`
  const a1 = await startNode(t, 'rs-a', prefix)
  const b1 = await startNode(t, 'rs-b', prefix)
  for (const [node, id] of [[a1, 'on-a'], [b1, 'on-b']] as const) {
    const c = new Client(node.broker)
    await c.connect(id, false)
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'r/#', qos: 1 }] })
    await c.next('suback')
    c.destroy()
  }
  await sleep(100)
  await (a1 as Node & { stop: () => Promise<void> }).stop()
  await (b1 as Node & { stop: () => Promise<void> }).stop()
  const a = await startNode(t, 'rs-a', prefix)
  const b = await startNode(t, 'rs-b', prefix)
  t.same(a.broker.metrics().sessions, { online: 0, offline: 1 }, 'node a loaded one session (its own)')
  t.same(b.broker.metrics().sessions, { online: 0, offline: 1 }, 'node b loaded one session (its own)')
  // the client of on-a is back on a; a publish on b must not be queued by b as well
  const onA = new Client(a.broker)
  t.equal((await onA.connect('on-a', false)).sessionPresent, true)
  const pub = new Client(b.broker)
  await pub.connect('pub', true, 0)
  t.ok(await pub.until(() => b.bus.interested('r/1')), 'node b routes r/# to node a')
  pub.send({ cmd: 'publish', topic: 'r/1', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false })
  await pub.next('puback')
  const got = await onA.next('publish')
  t.equal(got.topic, 'r/1')
  onA.send({ cmd: 'puback', messageId: got.messageId })
  await sleep(200)
  t.same((await a.store.outgoing('on-a', Date.now())).map((r) => r.message.topic), [], 'acknowledged: nothing left (no copy queued by node b)')
  t.same((await a.store.outgoing('on-b', Date.now())).map((r) => r.message.topic), ['r/1'], 'the offline session on-b: queued once, by its owner')
  onA.destroy()
  await sleep(100)
  const again = new Client(a.broker)
  t.equal((await again.connect('on-a', false)).sessionPresent, true)
  await sleep(300)
  t.same(again.received.filter((m) => m.cmd === 'publish'), [], 'no second copy on reconnect')
  again.destroy()
})

t.test('Clean Start 1 on another node discards the session everywhere', { timeout: 60_000 }, async (t) => {
  const prefix = `clean${prefixes++}:`
  const a = await startNode(t, 'cl-a', prefix)
  const b = await startNode(t, 'cl-b', prefix)
  const x = new Client(a.broker)
  await x.connect('cleaner', false)
  x.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'c/#', qos: 1 }] })
  await x.next('suback')
  x.destroy()
  await sleep(100)
  const pub = new Client(b.broker)
  await pub.connect('pub', true, 0)
  t.ok(await pub.until(() => b.bus.interested('c/1')))
  pub.send({ cmd: 'publish', topic: 'c/1', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false })
  await pub.next('puback')
  // the owner (node a) queues it from its inbox: that write may land just after the puback
  t.ok(await until(async () => (await a.store.outgoing('cleaner', Date.now())).length === 1, 5000), 'queued while offline')

  const y = new Client(b.broker)
  const ack = await y.connect('cleaner', true, 0)
  t.equal(ack.sessionPresent, false, 'Session Present 0')
  t.equal(await b.store.getSession('cleaner'), null, 'the stored session is gone')
  t.same(await b.store.outgoing('cleaner', Date.now()), [], 'its queue too')
  t.same(a.broker.metrics().sessions, { online: 0, offline: 0 }, 'node a dropped it')
  t.ok(await pub.until(() => !b.bus.interested('c/1')), 'no node routes c/# any more')
  pub.send({ cmd: 'publish', topic: 'c/2', payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false })
  await pub.next('puback')
  await sleep(200)
  t.same(y.received.filter((m) => m.cmd === 'publish'), [], 'the new session has no subscription')
  t.same(await a.store.outgoing('cleaner', Date.now()), [], 'nothing queued for the old session')
  y.destroy()
})

t.test('a previous owner alive but silent: the connection is refused with 0x88, not resumed half; a dead one is not waited for', { timeout: 60_000 }, async (t) => {
  const prefix = `silent${prefixes++}:`
  const b = await startNode(t, 'si-b', prefix)
  // node si-a: alive on the bus (heartbeats), never answers
  const mute = new RedisBus({ url: server.url, nodeId: 'si-a', prefix, heartbeatMs: 100 })
  t.teardown(() => mute.close())
  await mute.open()
  await b.store.claimSession('held', 'si-a')
  await b.store.claimSession('held2', 'si-a')
  const y = new Client(b.broker)
  const started = Date.now()
  const ack = await y.connect('held', false)
  t.equal(ack.reasonCode, 0x88, 'CONNACK 0x88 Server unavailable')
  t.ok(Date.now() - started >= 4900, `after the handoff bound of 5 s (${Date.now() - started} ms)`)
  t.ok(await y.until(() => y.closed), 'closed')
  await mute.close() // leaves the node set: dead
  const z = new Client(b.broker)
  const started2 = Date.now()
  const ack2 = await z.connect('held2', false)
  t.equal(ack2.reasonCode, 0, 'a dead previous owner: accepted')
  t.ok(Date.now() - started2 < 2000, 'without waiting for it')
  t.same(await b.store.sessionOwner('held2'), { nodeId: 'si-b', epoch: 2 })
  z.destroy()
})

t.test('on a Redis Cluster: a race leaves one survivor; a session moves to another node with its queue', { timeout: 120_000 }, async (t) => {
  const rc = await startRedisCluster()
  t.teardown(() => rc.destroy())
  const prefix = `rc${prefixes++}:`
  const a = await startNode(t, 'rc-a', prefix, rc.url)
  const b = await startNode(t, 'rc-b', prefix, rc.url)
  let one = 0
  for (let i = 0; i < 10; i++) {
    const ca = new Client(a.broker)
    const cb = new Client(b.broker)
    const connect = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `rc-racer-${i % 3}`, clean: false, keepalive: 0, properties: { sessionExpiryInterval: 60 } }
    ca.send(connect)
    cb.send(connect)
    const acked = (c: Client): boolean => c.received.some((p) => p.cmd === 'connack' && p.reasonCode === 0)
    await ca.until(() => [ca, cb].filter((c) => c.closed).length >= 1 && [ca, cb].every((c) => c.closed || acked(c)), 15_000)
    await sleep(150)
    const open = [ca, cb].filter((c) => !c.closed && acked(c))
    if (open.length === 1) one++
    for (const c of open) {
      c.send({ cmd: 'disconnect', reasonCode: 0 })
      await c.until(() => c.closed)
    }
  }
  t.equal(one, 10, 'exactly one survivor in each of 10 trials')

  const x = new Client(a.broker)
  await x.connect('rc-mover', false)
  x.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rc/#', qos: 1 }] })
  await x.next('suback')
  x.destroy()
  await sleep(100)
  const pub = new Client(b.broker)
  await pub.connect('rc-pub', true, 0)
  t.ok(await pub.until(() => b.bus.interested('rc/1')), 'node b routes rc/# to node a')
  pub.send({ cmd: 'publish', topic: 'rc/1', payload: Buffer.from('queued'), qos: 1, messageId: 1, retain: false, dup: false })
  await pub.next('puback')
  const y = new Client(b.broker)
  const ack = await y.connect('rc-mover', false)
  t.equal(ack.sessionPresent, true, 'Session Present 1 on node b')
  const got = await y.next('publish')
  t.equal(got.topic, 'rc/1', 'the queue came along (queued by node a from the bus, resumed on node b)')
  y.send({ cmd: 'puback', messageId: got.messageId })
  t.same(await b.store.sessionOwner('rc-mover'), { nodeId: 'rc-b', epoch: 2 })
  y.destroy()
})
