/**
 * What the broker returns to the bus for a message from another node (Bus.onMessage): its
 * store writes and waits for room, so a durable bus marks the message read only once they are
 * done (RedisBus: packages/store-redis/test/bus.test.ts, backpressure-cluster.test.ts).
 */
import t from 'tap'
import { Broker, MemoryStore, type Bus, type BusMessage, type SharePick, type StoredMessage } from '../src/index.ts'
import { connect, delay } from './helper.ts'

/** A bus whose messages from "another node" the test hands in, keeping what the handler returns. */
function handBus (nodeId = 'me') {
  let handler: (m: BusMessage) => unknown = () => null
  const bus: Bus = {
    nodeId,
    async send () {},
    onMessage (h) { handler = h },
    async aliveNodes () { return [nodeId, 'other'] },
    async close () {},
    setShare () {},
    pickShares () { return null },
    pickShare () { return null }
  }
  return { bus, deliver: (m: BusMessage): unknown => handler(m) }
}

const message = (topic: string, payload: string, qos: 0 | 1 | 2 = 1): StoredMessage => ({ topic, payload: Buffer.from(payload), qos, retain: false })

/** 'pending' if `p` has not settled within `ms`, else how it settled. */
async function state (p: unknown, ms = 50): Promise<'pending' | 'resolved' | 'rejected'> {
  return await Promise.race([
    Promise.resolve(p).then(() => 'resolved' as const, () => 'rejected' as const),
    delay(ms).then(() => 'pending' as const)
  ])
}

t.test('a publish from another node: the broker returns its store writes, null when there are none', async (t) => {
  const r = handBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0 })
  t.teardown(() => b.close())
  await b.ready() // the broker takes messages from the bus once its sessions are restored
  t.equal(r.deliver({ type: 'publish', nodeId: 'other', message: message('x/1', 'nobody') }), null, 'no subscriber: nothing to wait for')
  t.equal(r.deliver({ type: 'takeover', nodeId: 'other', clientId: 'nobody' }), null, 'a control message: nothing')
  const clean = await connect(t, b, { clientId: 'clean' })
  await clean.subscribe('x/#', 1)
  t.equal(r.deliver({ type: 'publish', nodeId: 'other', message: message('x/2', 'clean') }), null, 'a clean session with room: nothing to store')
  t.equal((await clean.next('publish')).payload.toString(), 'clean')
  const persistent = await connect(t, b, { clientId: 'p', clean: false })
  await persistent.subscribe('y/#', 1)
  const p = r.deliver({ type: 'publish', nodeId: 'other', message: message('y/1', 'stored') })
  t.ok(p instanceof Promise, 'a connected persistent session: its in-flight write')
  t.equal(await state(p), 'resolved')
  t.equal((await persistent.next('publish')).payload.toString(), 'stored')
})

t.test('a failed store write is reported; what the broker returns still resolves (delivered: not read again)', async (t) => {
  const store = new MemoryStore()
  const r = handBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0, store })
  t.teardown(() => b.close())
  await b.ready() // the broker takes messages from the bus once its sessions are restored
  const errors: string[] = []
  b.on('error', (err) => { errors.push(err.code) })
  const sub = await connect(t, b, { clientId: 'p', clean: false })
  await sub.subscribe('y/#', 1)
  store.enqueue = async () => { throw new Error('disk full') }
  const p = r.deliver({ type: 'publish', nodeId: 'other', message: message('y/1', 'lost?') })
  t.equal(await state(p), 'resolved')
  t.ok(errors.includes('BROKER_ERR_STORE'), 'and the broker reports it')
})

t.test('a full queue: what the broker returns waits for room, for a route and for a shared group picked here', async (t) => {
  const r = handBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0, limits: { maxQueuedMessages: 2, maxInflightOut: 1, stallTimeout: 0 } })
  t.teardown(() => b.close())
  await b.ready() // the broker takes messages from the bus once its sessions are restored
  const sub = await connect(t, b, { clientId: 'slow' })
  await sub.subscribe('z/#', 1)
  await sub.subscribe('$share/g/s/#', 1)
  const got: unknown[] = []
  for (let i = 0; i < 4; i++) got.push(r.deliver({ type: 'publish', nodeId: 'other', message: message('z/1', String(i)) }))
  t.same(got.slice(0, 3), [null, null, null], 'in flight and queued within the bound: nothing to wait for')
  t.equal(await state(got[3]), 'pending', 'beyond the bound: waits for room')
  const picks: SharePick[] = [['$share/g/s/#', 'me']]
  const shared = r.deliver({ type: 'publish', nodeId: 'other', message: message('s/1', 'group'), shares: picks })
  t.equal(await state(shared), 'pending', 'a group member with a full queue: waits too')
  const only = r.deliver({ type: 'shared', nodeId: 'other', message: message('s/2', 'group only'), shares: picks })
  t.equal(await state(only), 'pending', 'a shared message to it: waits too')
  // the subscriber acknowledges: room again
  for (let i = 0; i < 6; i++) {
    const p = await sub.next('publish')
    sub.send({ cmd: 'puback', messageId: p.messageId })
  }
  t.equal(await state(got[3], 500), 'resolved', 'released once the subscriber made room')
  t.equal(await state(shared, 500), 'resolved')
  t.equal(await state(only, 500), 'resolved')
})
