import type { Duplex } from 'node:stream'
import t, { type Test as TapTest } from 'tap'
import { connect, setup, TestClient } from './helper.ts'

// each case: bytes sent after a successful 5.0 CONNECT, the DISCONNECT reason code expected
async function expectDisconnect (t: TapTest, bytes: number[] | Buffer, reasonCode: number): Promise<void> {
  const broker = setup(t)
  const bystander = await connect(t, broker, {})
  await bystander.subscribe('#', 0)
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.sendRaw(bytes)
  t.equal((await c.next('disconnect')).reasonCode, reasonCode)
  await c.closed()
  // the broker and its other clients carry on
  const p = await connect(t, broker, {})
  p.publish('still/alive', 'yes')
  t.equal((await bystander.next('publish')).topic, 'still/alive')
}

t.test('[MQTT-2.1.3-1] reserved header flags → DISCONNECT 0x81 malformed packet', async (t) => {
  await expectDisconnect(t, [0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], 0x81) // SUBSCRIBE with flags 0010 expected, 0000 sent
})

t.test('invalid UTF-8 in a topic name [MQTT-1.5.4-1] → DISCONNECT 0x81', async (t) => {
  await expectDisconnect(t, [0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, 0x00], 0x81)
})

t.test('a 10,000-level topic → DISCONNECT 0x90 topic name invalid', async (t) => {
  const topic = Buffer.from('a/'.repeat(9999) + 'a')
  const header = Buffer.alloc(2)
  header.writeUInt16BE(topic.length)
  const body = Buffer.concat([header, topic, Buffer.from([0x00])]) // + empty properties
  const vbi: number[] = []
  for (let len = body.length; ;) {
    const b = len & 0x7f
    len >>= 7
    vbi.push(len > 0 ? b | 0x80 : b)
    if (len === 0) break
  }
  await expectDisconnect(t, Buffer.concat([Buffer.from([0x30, ...vbi]), body]), 0x90)
})

t.test('wildcards in a PUBLISH topic [MQTT-3.3.2-2] → DISCONNECT 0x90 (or 0x81 from the codec)', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.sendRaw([0x30, 0x06, 0x00, 0x03, 0x61, 0x2f, 0x2b, 0x00])
  const d = await c.next('disconnect')
  t.ok([0x81, 0x90].includes(d.reasonCode), `reason 0x${d.reasonCode.toString(16)}`)
})

t.test('remaining length longer than 4 bytes → the connection is closed', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, {})
  c.sendRaw([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])
  await c.closed()
  t.pass('closed')
})

t.test('[MQTT-3.1.2-2] unsupported protocol level → CONNACK return code 1', async (t) => {
  const broker = setup(t)
  const c = new TestClient(broker, 4)
  t.teardown(() => c.stream.destroy())
  c.sendRaw([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x09, 0x02, 0x00, 0x00, 0x00, 0x00])
  const ack = await c.next('connack')
  t.equal(ack.returnCode, 1)
  await c.closed()
})

t.test('server-to-client packets from a client are a protocol error (DISCONNECT 0x82)', async (t) => {
  const broker = setup(t)
  const c = await connect(t, broker, { protocolVersion: 5 })
  c.send({ cmd: 'pingresp' })
  t.equal((await c.next('disconnect')).reasonCode, 0x82)
})

t.test('publish rate limit: above publishRatePerSecond the client gets DISCONNECT 0x96', async (t) => {
  const broker = setup(t, { limits: { publishRatePerSecond: 5 } })
  const c = await connect(t, broker, { protocolVersion: 5 })
  for (let i = 0; i < 10; i++) c.publish('r', 'x')
  t.equal((await c.next('disconnect')).reasonCode, 0x96)
})

t.test('a stream error is reported and only closes that client', async (t) => {
  const broker = setup(t)
  const codes: string[] = []
  broker.on('clientError', (_c, e) => codes.push(e.code))
  // the streams the broker is handed (the server side of each pair)
  const streams: Duplex[] = []
  const handle = broker.handle.bind(broker)
  broker.handle = (stream, info) => {
    streams.push(stream)
    return handle(stream, info)
  }
  const a = await connect(t, broker, {})
  const b = await connect(t, broker, {})
  // the server side of a's pair is the peer that receives a's bytes: make it fail
  streams[0]!.destroy(new Error('ECONNRESET'))
  await a.nothing(20)
  t.ok(codes.includes('BROKER_ERR_SOCKET'))
  b.send({ cmd: 'pingreq' })
  t.ok(await b.next('pingresp'))
})

t.test('many bad clients at once do not affect a good one', async (t) => {
  const broker = setup(t)
  const good = await connect(t, broker, {})
  await good.subscribe('ok', 0)
  const bad = []
  for (let i = 0; i < 20; i++) {
    const c = new TestClient(broker, 4)
    t.teardown(() => c.stream.destroy())
    c.sendRaw(Buffer.from([Math.floor(Math.random() * 256), 0x02, 0xff, 0xff]))
    bad.push(c)
  }
  await Promise.all(bad.map((c) => c.closed()))
  await broker.publish({ topic: 'ok', payload: 'fine' })
  t.equal((await good.next('publish')).payload.toString(), 'fine')
})
