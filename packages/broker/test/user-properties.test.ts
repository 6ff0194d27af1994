/**
 * User properties reach subscribers in the publisher's order [MQTT-3.3.2-17] [MQTT-3.3.2-18]:
 * live, from an offline queue (MemoryStore), as a retained message and as a will. Names are
 * chosen so that an object would reorder them ("2", "10", "1": integer-like names first) or
 * group them (repeated "k"). The test clients write with @culex/packet (mqtt-packet cannot
 * encode pairs) and read the broker's bytes with a pairs parser, so the wire order is checked.
 */
import t from 'tap'
import { Parser, encode, type Packet, type PublishPacket, type UserPropertyPairs } from '@culex/packet'
import { TestClient, connect, setup, type AnyPacket, type T } from './helper.ts'
import type { Broker } from '../src/index.ts'

const UP: UserPropertyPairs = [['2', 'a'], ['k', 'b'], ['10', 'c'], ['1', 'd'], ['k', 'e'], ['z', '']]

/** Every PUBLISH the broker writes to `c`, decoded with user properties as pairs. */
function publishesOf (c: TestClient): PublishPacket[] {
  const out: PublishPacket[] = []
  const parser = new Parser({ protocolVersion: 5, userProperties: 'pairs', onPacket: (p) => { if (p.cmd === 'publish') out.push(p) } })
  c.stream.on('data', (chunk: Buffer) => parser.parse(chunk))
  return out
}

async function publishOrdered (c: TestClient, topic: string, qos: 0 | 1, retain = false): Promise<void> {
  const p: Packet = { cmd: 'publish', topic, payload: Buffer.from('m'), qos, dup: false, retain, ...(qos > 0 ? { messageId: 11 } : {}), properties: { userProperties: UP } }
  c.sendRaw(encode(p, 5))
  if (qos > 0) await c.next('puback')
}

async function until (t: T & { fail: (m: string) => void }, got: PublishPacket[], n: number): Promise<void> {
  for (let i = 0; i < 200 && got.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  if (got.length < n) t.fail(`expected ${n} PUBLISH, got ${got.length}`)
}

t.test('live: a subscriber gets the user properties in the publisher\'s order', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, { protocolVersion: 5 })
  const got = publishesOf(sub)
  await sub.subscribe('u/#', 1)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  await publishOrdered(pub, 'u/live', 1)
  await publishOrdered(pub, 'u/live0', 0)
  await until(t, got, 2)
  t.strictSame(got.map((p) => p.properties?.userProperties), [UP, UP], 'QoS 1 and QoS 0, same order')
})

t.test('offline queue (MemoryStore): the queued message keeps the order', async (t) => {
  const broker = setup(t)
  const props = { sessionExpiryInterval: 60 }
  const sub = await connect(t, broker, { protocolVersion: 5, clientId: 'q', clean: false, properties: props })
  await sub.subscribe('u/#', 1)
  sub.disconnect()
  await sub.closed()
  const pub = await connect(t, broker, { protocolVersion: 5 })
  await publishOrdered(pub, 'u/queued', 1)
  const again = new TestClient(broker, 5)
  t.teardown(() => { again.stream.destroy() })
  const got = publishesOf(again)
  again.sendRaw(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'q', clean: false, keepalive: 0, properties: props }, 5))
  t.equal((await again.next('connack')).sessionPresent, true)
  await until(t, got, 1)
  t.strictSame(got[0]?.properties?.userProperties, UP)
})

t.test('retained: a later subscriber gets the order of the retained message', async (t) => {
  const broker = setup(t)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  await publishOrdered(pub, 'u/kept', 1, true)
  const sub = await connect(t, broker, { protocolVersion: 5 })
  const got = publishesOf(sub)
  await sub.subscribe('u/#', 1)
  await until(t, got, 1)
  t.equal(got[0]?.retain, true)
  t.strictSame(got[0]?.properties?.userProperties, UP)
})

async function willOf (t: T & { fail: (m: string) => void }, broker: Broker): Promise<PublishPacket | undefined> {
  const sub = await connect(t, broker, { protocolVersion: 5 })
  const got = publishesOf(sub)
  await sub.subscribe('w/#', 1)
  const c = new TestClient(broker, 5)
  t.teardown(() => { c.stream.destroy() })
  const will = { topic: 'w/gone', payload: Buffer.from('bye'), qos: 1 as const, retain: false, properties: { userProperties: UP } }
  c.sendRaw(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'w', clean: true, keepalive: 0, will }, 5))
  await c.next('connack')
  c.drop()
  await until(t, got, 1)
  return got[0]
}

t.test('will: the will message keeps the order of its user properties', async (t) => {
  const broker = setup(t)
  const m = await willOf(t, broker)
  t.equal(m?.topic, 'w/gone')
  t.strictSame(m?.properties?.userProperties, UP)
})

t.test('an object given to broker.publish is sent in its own key order', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, { protocolVersion: 5 })
  const got = publishesOf(sub)
  await sub.subscribe('u/#', 0)
  await broker.publish({ topic: 'u/api', payload: Buffer.from('x'), qos: 0, retain: false, properties: { userProperties: { b: '1', a: ['2', '3'] } } })
  await until(t, got, 1)
  t.strictSame(got[0]?.properties?.userProperties, [['b', '1'], ['a', '2'], ['a', '3']])
})

// the broker's own packets read with the default (object) parser are unchanged
t.test('an mqtt-packet client still reads them as an object', async (t) => {
  const broker = setup(t)
  const sub = await connect(t, broker, { protocolVersion: 5 })
  await sub.subscribe('u/#', 0)
  const pub = await connect(t, broker, { protocolVersion: 5 })
  await publishOrdered(pub, 'u/obj', 0)
  const m: AnyPacket = await sub.next('publish')
  t.same(m.properties.userProperties, { 1: 'd', 2: 'a', 10: 'c', k: ['b', 'e'], z: '' })
})
