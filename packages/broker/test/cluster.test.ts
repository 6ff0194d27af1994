import t from 'tap'
import { Broker, type Bus, type BusMessage } from '../src/index.ts'
import { connect, delay, pairBus } from './helper.ts'

t.test('a message published on one node reaches subscribers on the other; takeover crosses nodes', async (t) => {
  const [busA, busB] = pairBus()
  const a = new Broker({ bus: busA, sysInterval: 0 })
  const b = new Broker({ bus: busB, sysInterval: 0 })
  t.teardown(async () => { await a.close(); await b.close() })
  t.equal(a.id, 'a')
  const subB = await connect(t, b, { clientId: 'x', protocolVersion: 5 })
  await subB.subscribe('c/#', 1)
  const pubA = await connect(t, a, {})
  pubA.publish('c/1', 'across', 1)
  await pubA.next('puback')
  const m = await subB.next('publish')
  t.equal(m.payload.toString(), 'across')
  await connect(t, a, { clientId: 'x' })
  t.equal((await subB.next('disconnect')).reasonCode, 0x8E)
  await delay(10)
})

/** A bus with a route table that records what the broker tells it; publish writes wait for `release`. */
function routedBus () {
  const routes: string[] = []
  const sent: BusMessage[] = []
  let release: (err?: Error) => void = () => {}
  let write: Promise<void> = Promise.resolve()
  const bus: Bus & { addRoute: (f: string) => void, removeRoute: (f: string) => void, interested: (topic: string) => boolean } = {
    nodeId: 'r',
    send (message) {
      if (message.type !== 'publish') return Promise.resolve()
      sent.push(message)
      return write
    },
    onMessage () {},
    async aliveNodes () { return ['r'] },
    async close () {},
    addRoute (f) { routes.push(`+${f}`) },
    removeRoute (f) { routes.push(`-${f}`) },
    interested (topic) { return topic.startsWith('remote/') }
  }
  return {
    bus,
    routes,
    sent,
    /** From now on, publish writes wait until `release()` (rejected with `release(err)`). */
    hold () {
      write = new Promise<void>((resolve, reject) => { release = (err) => { if (err === undefined) resolve(); else reject(err) } })
      write.catch(() => {})
    },
    release: (err?: Error) => { release(err) }
  }
}

t.test('route table: the broker announces filters (a shared group once) and sends only what another node wants', async (t) => {
  const r = routedBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0 })
  t.teardown(() => b.close())
  const c1 = await connect(t, b, { clientId: 'c1', protocolVersion: 5 })
  await c1.subscribe('x/+', 0)
  await c1.subscribe('$share/g/s/#', 0)
  const c2 = await connect(t, b, { clientId: 'c2', protocolVersion: 5 })
  await c2.subscribe('$share/g/s/#', 0)
  await c2.subscribe('x/+', 0)
  t.same(r.routes, ['+x/+', '+s/#', '+x/+'], 'one route per subscription, a shared group by its filter, once')
  c1.send({ cmd: 'unsubscribe', messageId: 9, unsubscriptions: ['x/+', '$share/g/s/#'] })
  await c1.next('unsuback')
  c2.send({ cmd: 'unsubscribe', messageId: 9, unsubscriptions: ['$share/g/s/#'] })
  await c2.next('unsuback')
  t.same(r.routes.slice(3), ['-x/+', '-s/#'], 'removed with the subscription, the group with its last member')
  c1.publish('local/1', 'a', 1)
  await c1.next('puback')
  c1.publish('remote/1', 'b', 1)
  await c1.next('puback')
  t.same(r.sent.map((m) => m.type === 'publish' ? m.message.topic : ''), ['remote/1'], 'a topic no other node wants is not sent')
})

t.test('a QoS 1/2 acknowledgement waits for the bus write; a failed write fails it; QoS 0 does not wait', async (t) => {
  const r = routedBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0 })
  t.teardown(() => b.close())
  const errors: Error[] = []
  b.on('error', (e) => { errors.push(e) })
  const c = await connect(t, b, { clientId: 'p', protocolVersion: 5 })
  r.hold()
  c.publish('remote/1', 'a', 1)
  c.publish('remote/2', 'b', 2)
  t.ok(await c.nothing(100), 'no PUBACK/PUBREC while the bus write is pending')
  r.release()
  t.equal((await c.next()).cmd, 'puback')
  t.equal((await c.next()).cmd, 'pubrec')
  r.hold()
  c.publish('remote/3', 'c', 1)
  r.release(new Error('redis gone'))
  t.equal((await c.next('puback')).reasonCode, 0x80, 'a failed bus write: PUBACK 0x80, the publisher resends')
  r.hold()
  c.publish('remote/4', 'd', 0)
  c.publish('remote/5', 'e', 0)
  const sub = await connect(t, b, { clientId: 's', protocolVersion: 5 })
  await sub.subscribe('remote/#', 0)
  c.publish('remote/6', 'f', 0)
  t.equal((await sub.next('publish')).topic, 'remote/6', 'QoS 0 is routed locally without waiting for the bus')
  r.release(new Error('redis gone again'))
  await delay(10)
  t.equal(errors.filter((e) => e.message.includes('redis gone again')).length, 1, 'one error for one failed QoS 0 batch')
})
