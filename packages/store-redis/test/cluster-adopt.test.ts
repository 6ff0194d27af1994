/**
 * Adoption of a dead node's sessions (issue #14 item 4), in process: brokers with their own
 * RedisStore and RedisBus on one real redis-server, and a node that died as SIGKILL leaves it
 * (its last heartbeat, route table, owned sessions and unread inbox in Redis, nothing running).
 * A publisher keeps publishing QoS 1 on a live node before, while and after the dead node is
 * claimed; its persistent subscriber then reconnects on another node and gets every
 * acknowledged message exactly once, in order. Scripted MQTT 5 clients over in-memory streams.
 */
import t, { type Test } from 'tap'
import { Broker } from '@culex/broker'
import { packRecord } from '@culex/packet/record'
import { Redis } from 'ioredis'
import { RedisBus, RedisStore } from '../src/index.ts'
import { Client } from './scripted-client.ts'
import { startRedis } from './redis-server.ts'

const server = await startRedis()
t.teardown(() => server.destroy())

interface Node { broker: Broker, store: RedisStore, bus: RedisBus, stop: () => Promise<void> }

async function startNode (t: Test, id: string, prefix: string): Promise<Node> {
  const store = new RedisStore({ url: server.url, prefix })
  const bus = new RedisBus({ url: server.url, nodeId: id, prefix, heartbeatMs: 100, deadAfterMs: 400, logger: { warn () {} } })
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
  return { broker, store, bus, stop }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** What a node killed with SIGKILL leaves in Redis: its sessions (connected: no expiry set), routes, last beat. */
async function deadNode (store: RedisStore, prefix: string, node: string): Promise<void> {
  for (const [clientId, expiryInterval] of [['sub', 300], ['short', 1], ['clean', 0]] as const) {
    await store.claimSession(clientId, node)
    await store.saveSession({ clientId, protocolVersion: 5, expiryInterval, subscriptions: [{ topic: 'ad/#', qos: 1, nl: false, rap: false, rh: 0 }] })
  }
  // its last heartbeat and its route table (what its RedisBus wrote); nothing reads its inbox
  const admin = new Redis(server.url)
  await admin.zadd(`${prefix}nodes`, Date.now(), node)
  await admin.sadd(`${prefix}routes:{${node}}`, 'ad/#')
  await admin.publish(`${prefix}bus`, packRecord({ type: 'routes', nodeId: node }, Buffer.alloc(0)))
  admin.disconnect()
}

t.test('a dead node\'s offline sessions are adopted by one survivor: nothing acknowledged while it was dead is lost, none twice', { timeout: 60_000 }, async (t) => {
  const prefix = 'adopt1:'
  const a = await startNode(t, 'ad-a', prefix)
  const b = await startNode(t, 'ad-b', prefix)
  const adopted: string[] = []
  a.broker.on('nodeAdopted', (n) => { adopted.push(`ad-a:${n}`) })
  b.broker.on('nodeAdopted', (n) => { adopted.push(`ad-b:${n}`) })
  await deadNode(a.store, prefix, 'ghost')
  const pub = new Client(a.broker)
  await pub.connect('pub', true, 0)
  t.ok(await pub.until(() => a.bus.interested('ad/1')), 'node a routes ad/# to ghost')
  // QoS 1 from before ghost is dead until well after it was adopted
  const acked: number[] = []
  for (let i = 1; i <= 150; i++) {
    pub.send({ cmd: 'publish', topic: 'ad/1', payload: Buffer.from(String(i)), qos: 1, messageId: i, retain: false, dup: false })
    const ack = await pub.next('puback')
    acked.push(ack.messageId as number)
    await sleep(10)
  }
  t.equal(acked.length, 150, 'all 150 acknowledged')
  t.same(adopted.map((x) => x.split(':')[1]), ['ghost'], `ghost adopted once (${adopted.join(', ')})`)
  const adopter = adopted[0]!.startsWith('ad-a') ? a : b
  const other = adopter === a ? b : a
  t.equal((await a.store.sessionOwner('sub'))?.nodeId, adopter.bus.nodeId, 'the adopter owns the session now')
  t.equal((await a.store.sessionOwner('sub'))?.epoch, 2, 'with the next epoch')
  t.equal(await a.store.getSession('clean'), null, 'a clean session of the dead node ended')
  t.ok(await pub.until(() => !a.bus.interested('ad/x') || adopter === b, 3000), 'ghost\'s routes are gone')
  // sub comes back on the node that did not adopt it: handoff from the adopter
  const sub = new Client(other.broker)
  const ack = await sub.connect('sub', false)
  t.equal(ack.sessionPresent, true, 'session present')
  t.ok(await sub.until(() => sub.received.filter((p) => p.cmd === 'publish').length >= 150, 10_000), 'every message arrives')
  await sleep(300)
  const got = sub.received.filter((p) => p.cmd === 'publish').map((p) => Number((p.payload as Buffer).toString()))
  t.same(got, Array.from({ length: 150 }, (_, i) => i + 1), 'all 150, once, in order')
  // the short session (expiry 1 s, connected on ghost when it died) expires from its adoption
  await sleep(1000)
  t.equal(await a.store.getSession('short'), null, 'a session connected on the dead node expires after its interval (1 s) from its adoption')
  sub.destroy()
  pub.destroy()
})

t.test('a dead node restarted with its id after its sessions were adopted loads none of them (no second queuer)', { timeout: 60_000 }, async (t) => {
  const prefix = 'adopt2:'
  const a = await startNode(t, 'ae-a', prefix)
  let adopted = false
  a.broker.on('nodeAdopted', () => { adopted = true })
  await deadNode(a.store, prefix, 'ghost')
  const pub = new Client(a.broker)
  await pub.connect('pub', true, 0)
  t.ok(await pub.until(() => a.bus.interested('ad/1')), 'node a routes ad/# to ghost')
  pub.send({ cmd: 'publish', topic: 'ad/1', payload: Buffer.from('while dead'), qos: 1, messageId: 1, retain: false, dup: false })
  await pub.next('puback')
  t.ok(await pub.until(() => adopted, 5000), 'adopted')
  t.ok(await pub.until(() => a.broker.metrics().sessions.offline === 2, 3000), 'node a holds the offline sessions (sub, short)')
  await sleep(700) // the adopter finishes reading ghost's inbox
  t.same((await a.store.outgoing('sub', Date.now())).map((r) => r.message.payload.toString()), ['while dead'], 'queued once, by the adopter')
  const back = await startNode(t, 'ghost', prefix)
  t.same(back.broker.metrics().sessions, { online: 0, offline: 0 }, 'the restarted node loads none of them')
  pub.send({ cmd: 'publish', topic: 'ad/1', payload: Buffer.from('after'), qos: 1, messageId: 2, retain: false, dup: false })
  await pub.next('puback')
  await sleep(200)
  t.same((await a.store.outgoing('sub', Date.now())).map((r) => r.message.payload.toString()), ['while dead', 'after'], 'queued once more, once')
  pub.destroy()
})
