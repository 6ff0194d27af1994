import t from 'tap'
import { Duplex } from 'node:stream'
import mqttPacket from 'mqtt-packet'
import { connect, delay, setup, type AnyPacket } from './helper.ts'

/**
 * A subscriber whose socket does not drain: the server side's write callbacks are held
 * until `release()`, so the broker sees `writableLength` grow as with a stalled TCP peer.
 */
function stalledClient (broker: ReturnType<typeof setup>) {
  const held: Array<() => void> = []
  const received: AnyPacket[] = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (p: AnyPacket) => received.push(p))
  let stalled = false
  const server = new Duplex({
    read () {},
    write (chunk: Buffer, _enc, cb) {
      parser.parse(chunk)
      if (stalled) held.push(cb)
      else cb()
    },
    final (cb) { client.push(null); cb() },
    highWaterMark: 1024
  })
  const client: Duplex = new Duplex({
    read () {},
    write (chunk, _enc, cb) { server.push(chunk); cb() }
  })
  broker.handle(server)
  return {
    client,
    received,
    stall () { stalled = true },
    release () {
      stalled = false
      for (const cb of held.splice(0)) cb()
    },
    send (p: AnyPacket) { client.write(mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 4 })) }
  }
}

t.test('a stalled subscriber: QoS 0 dropped and counted, QoS 1 queued then delivered on drain; others unaffected', async (t) => {
  const broker = setup(t, { limits: { maxBufferedBytes: 2000 } })
  const slow = stalledClient(broker)
  t.teardown(() => slow.client.destroy())
  slow.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow', clean: true, keepalive: 0 })
  slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 1 }] })
  await delay(20)
  t.same(slow.received.map((p) => p.cmd), ['connack', 'suback'])
  const fast = await connect(t, broker, {})
  await fast.subscribe('t', 0)
  slow.stall()
  const payload = Buffer.alloc(500, 1)
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
  for (let i = 0; i < 20; i++) {
    await broker.publish({ topic: 't', payload, qos: 0 })
    await tick()
  }
  for (let i = 0; i < 5; i++) {
    await broker.publish({ topic: 't', payload: `q1-${i}`, qos: 1 })
    await tick()
  }
  await delay(20)
  t.ok(broker.stats.publishDropped > 0, `QoS 0 dropped for the stalled client (${broker.stats.publishDropped})`)
  t.equal(fast.received.filter((p) => p.cmd === 'publish').length, 25, 'the fast client got everything')
  const beforeRelease = slow.received.filter((p) => p.cmd === 'publish' && p.qos === 1).length
  slow.release()
  await delay(50)
  slow.release()
  await delay(50)
  const q1 = slow.received.filter((p) => p.cmd === 'publish' && p.qos === 1).map((p) => p.payload.toString())
  t.ok(beforeRelease < 5, 'QoS 1 held back while stalled')
  t.same(q1, ['q1-0', 'q1-1', 'q1-2', 'q1-3', 'q1-4'], 'QoS 1 delivered in order after drain')
})

t.test('a long synchronous batch is flushed every 64 KiB and is not mistaken for back-pressure', async (t) => {
  const broker = setup(t, { limits: { maxBufferedBytes: 10_000 } })
  const c = await connect(t, broker, {})
  await c.subscribe('b', 0)
  for (let i = 0; i < 200; i++) await broker.publish({ topic: 'b', payload: Buffer.alloc(1000), qos: 0 })
  await delay(20)
  t.equal(c.received.filter((p) => p.cmd === 'publish').length, 200)
  t.equal(broker.stats.publishDropped, 0)
})

t.test('stats and $SYS counters move', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, {})
  await c.subscribe('s', 0)
  c.publish('s', 'x')
  await c.next('publish')
  const st = broker.stats
  t.ok(st.messagesReceived >= 3)
  t.ok(st.messagesSent >= 3)
  t.ok(st.bytesReceived > 0 && st.bytesSent > 0)
  t.equal(st.publishReceived, 1)
  t.equal(st.publishSent, 1)
  t.equal(st.clientsConnected, 1)
  t.equal(broker.connectionCount, 1)
})
