import t from 'tap'
import fc from 'fast-check'
import mqttPacket from 'mqtt-packet'
import { FrameScanner } from '../src/index.ts'
import { DISCONNECT, PINGREQ, T, encodeAck, encodeConnect, encodePublish, encodeSubscribe, publishPacketIdOffset, publishPayloadOffset } from '../src/wire.ts'

// mqtt-packet is the oracle: what the generator sends must parse there as intended
function parseWithOracle (buf: Buffer): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  const p = mqttPacket.parser({ protocolVersion: 4 })
  p.on('packet', (pk) => { out.push(pk as unknown as Record<string, unknown>) })
  p.on('error', (err: Error) => { throw err })
  p.parse(buf)
  return out
}

t.test('encoded packets parse with mqtt-packet', async (t) => {
  const [c] = parseWithOracle(encodeConnect({ clientId: 'bench-1', clean: false, keepalive: 30 }))
  t.match(c, { cmd: 'connect', protocolVersion: 4, clientId: 'bench-1', clean: false, keepalive: 30 })
  const [s] = parseWithOracle(encodeSubscribe(7, ['a/+', 'b/#'], 1))
  t.match(s, { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'a/+', qos: 1 }, { topic: 'b/#', qos: 1 }] })
  const payload = Buffer.from('hello')
  const pub = encodePublish({ topic: 'x/y', payload, qos: 2, retain: true, packetId: 513 })
  const [p] = parseWithOracle(pub)
  t.match(p, { cmd: 'publish', topic: 'x/y', qos: 2, retain: true, messageId: 513 })
  t.same(p?.payload, payload)
  t.equal(pub.readUInt16BE(publishPacketIdOffset(pub)), 513, 'packet id offset')
  t.equal(pub.subarray(publishPayloadOffset(pub)).toString(), 'hello', 'payload offset')
  const q0 = encodePublish({ topic: 'x', payload: Buffer.alloc(200, 1) })
  const [p0] = parseWithOracle(q0)
  t.match(p0, { cmd: 'publish', qos: 0, retain: false })
  t.equal(publishPayloadOffset(q0), 3 + 2 + 1, 'two-byte remaining length, no packet id')
  for (const [type, cmd] of [[T.puback, 'puback'], [T.pubrec, 'pubrec'], [T.pubrel, 'pubrel'], [T.pubcomp, 'pubcomp']] as const) {
    const [a] = parseWithOracle(encodeAck(type, 65535))
    t.match(a, { cmd, messageId: 65535 }, `${cmd} parses`)
  }
  t.match(parseWithOracle(PINGREQ)[0], { cmd: 'pingreq' })
  t.match(parseWithOracle(DISCONNECT)[0], { cmd: 'disconnect' })
})

function frames (chunks: Buffer[]): Array<[number, number, string]> {
  const out: Array<[number, number, string]> = []
  const s = new FrameScanner((type, flags, buf, start, end) => { out.push([type, flags, buf.subarray(start, end).toString('hex')]) }, (m) => { throw new Error(m) })
  for (const c of chunks) s.push(c)
  t.equal(s.pendingBytes, 0)
  return out
}

t.test('scanner: any split of a stream gives the same frames', async (t) => {
  const stream = Buffer.concat([
    encodeConnect({ clientId: 'c' }),
    encodePublish({ topic: 'a', payload: Buffer.alloc(300, 7), qos: 1, packetId: 9 }),
    encodeAck(T.puback, 9),
    encodePublish({ topic: 'long/topic', payload: Buffer.alloc(20000, 3) }),
    PINGREQ,
    encodePublish({ topic: 'z', payload: Buffer.alloc(0) })
  ])
  const whole = frames([stream])
  t.equal(whole.length, 6)
  t.same(whole.map(f => f[0]), [T.connect, T.publish, T.puback, T.publish, T.pingreq, T.publish])
  t.equal(whole[1]?.[1], 2, 'publish flags: QoS 1')
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 30 }), (cuts) => {
    const points = [...new Set(cuts)].sort((a, b) => a - b)
    const chunks: Buffer[] = []
    let prev = 0
    for (const p of points) { chunks.push(stream.subarray(prev, p)); prev = p }
    chunks.push(stream.subarray(prev))
    return JSON.stringify(frames(chunks)) === JSON.stringify(whole)
  }), { numRuns: 300 })
  // byte by byte (varint split across chunks)
  const bytes: Buffer[] = []
  for (let i = 0; i < stream.length; i += 1) bytes.push(stream.subarray(i, i + 1))
  t.same(frames(bytes), whole, 'one byte at a time')
})

t.test('scanner: malformed remaining length and oversize fail once', async (t) => {
  const errors: string[] = []
  let n = 0
  const s = new FrameScanner(() => { n++ }, (m) => errors.push(m), 100)
  s.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))
  t.equal(s.failed, true)
  s.push(PINGREQ)
  t.equal(n, 0, 'no frames after failure')
  t.equal(errors.length, 1)
  t.match(errors[0], /more than 4 bytes/)
  const big = new FrameScanner(() => {}, (m) => errors.push(m), 100)
  big.push(Buffer.from([0x30, 0xc8, 0x01]))
  t.match(errors[1], /remaining length 200 exceeds 100/)
  const partial = new FrameScanner(() => {}, () => {})
  partial.push(Buffer.from([0x30, 0x80]))
  t.equal(partial.pendingBytes, 2, 'incomplete varint waits for more')
  t.equal(partial.failed, false)
})
