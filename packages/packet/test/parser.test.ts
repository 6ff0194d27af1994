import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { MAX_PACKET_SIZE, Parser, encode, type Packet, type PacketError, type PublishPacket } from '../src/index.ts'

function collect (opts: ConstructorParameters<typeof Parser>[0] = {}): { parser: Parser, packets: Packet[], errors: PacketError[] } {
  const packets: Packet[] = []
  const errors: PacketError[] = []
  const parser = new Parser({ ...opts, onPacket: (p) => packets.push(p), onError: (e) => errors.push(e) })
  return { parser, packets, errors }
}

const publish = (payload: Buffer, extra: Partial<PublishPacket> = {}): PublishPacket => ({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 't', payload, ...extra })

t.test('defaults: version 4, max packet size 268435460, callbacks optional', async (t) => {
  const parser = new Parser()
  t.equal(parser.protocolVersion, 4)
  t.equal(parser.maxPacketSize, MAX_PACKET_SIZE)
  t.equal(parser.failed, false)
  t.equal(parser.error, null)
  parser.parse(Buffer.from('c000', 'hex'))
  parser.parse(Buffer.from('0000', 'hex'))
  t.equal(parser.failed, true)
  t.equal(parser.error?.code, 'PACKET_ERR_PACKET_TYPE')
  t.equal(new Parser({ maxPacketSize: 2 ** 40 }).maxPacketSize, MAX_PACKET_SIZE, 'capped at the protocol maximum')
})

t.test('a remaining length split across chunks', async (t) => {
  const pkt = publish(Buffer.alloc(20000, 1))
  const bytes = encode(pkt)
  t.equal(bytes[1]! & 0x80, 0x80, 'multi-byte remaining length')
  const { parser, packets, errors } = collect()
  parser.parse(bytes.subarray(0, 2))
  parser.parse(bytes.subarray(2, 3))
  parser.parse(bytes.subarray(3, 100))
  parser.parse(bytes.subarray(100))
  t.same(errors, [])
  t.same(packets, [pkt])
})

t.test('PUBLISH payload is a view into the chunk when the packet fits in it', async (t) => {
  const bytes = Buffer.concat([encode(publish(Buffer.from('abc'))), encode(publish(Buffer.from('defg')))])
  const { parser, packets } = collect()
  parser.parse(bytes)
  t.equal(packets.length, 2)
  const p0 = packets[0] as PublishPacket
  t.equal(p0.payload.buffer, bytes.buffer, 'same memory')
  bytes[bytes.indexOf('abc')] = 0x7a
  t.equal(p0.payload.toString(), 'zbc', 'a view, not a copy')
})

t.test('max packet size is checked from the fixed header, before buffering', async (t) => {
  const { parser, packets, errors } = collect({ maxPacketSize: 100 })
  parser.parse(encode(publish(Buffer.alloc(95))))
  t.equal(packets.length, 1, '100 bytes is accepted')
  parser.parse(Buffer.from([0x30, 0x63]))
  t.equal(errors.length, 1)
  t.equal(errors[0]?.code, 'PACKET_ERR_PACKET_TOO_LARGE')
  t.equal(errors[0]?.reasonCode, 0x95)
  parser.parse(encode(publish(Buffer.alloc(1))))
  t.equal(packets.length, 1, 'stays failed')
  t.equal(errors.length, 1, 'one error only')
})

t.test('the protocol version is learned from CONNECT', async (t) => {
  const { parser, packets, errors } = collect()
  const connect = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'a' })
  const pub = encode(publish(Buffer.from('x'), { properties: { contentType: 'c' } }), 5)
  parser.parse(Buffer.concat([connect, pub]))
  t.same(errors, [])
  t.equal(parser.protocolVersion, 5)
  t.same(packets[1], publish(Buffer.from('x'), { properties: { contentType: 'c' } }))
})

t.test('user properties repeat in order and keep a __proto__ key as data', async (t) => {
  const userProperties = Object.assign(Object.create(null), { a: ['1', '2', '3'], ['__proto__']: 'p' })
  const bytes = encode(publish(Buffer.alloc(0), { properties: { userProperties } }), 5)
  const { parser, packets } = collect({ protocolVersion: 5 })
  parser.parse(bytes)
  const got = (packets[0] as PublishPacket).properties?.userProperties as Record<string, unknown>
  t.same(got.a, ['1', '2', '3'])
  t.equal(Object.getOwnPropertyDescriptor(got, '__proto__')?.value, 'p')
})

t.test('an exception from onPacket propagates and leaves the parser failed', async (t) => {
  let calls = 0
  const parser = new Parser({
    onPacket: () => { calls++; throw new Error('boom') },
    onError: () => t.fail('onError is not called')
  })
  t.throws(() => parser.parse(Buffer.from('c000c000', 'hex')), /boom/)
  t.equal(calls, 1)
  t.equal(parser.failed, true)
  t.equal(parser.error, null)
  parser.parse(Buffer.from('c000', 'hex'))
  t.equal(calls, 1, 'ignores later input')
})

t.test('empty chunks are harmless', async (t) => {
  const { parser, packets } = collect()
  parser.parse(Buffer.alloc(0))
  parser.parse(Buffer.from('c0', 'hex'))
  parser.parse(Buffer.alloc(0))
  parser.parse(Buffer.from('00', 'hex'))
  t.same(packets, [{ cmd: 'pingreq' }])
})

t.test('a PUBLISH may carry several subscription identifiers', async (t) => {
  const pkt = publish(Buffer.from('x'), { properties: { subscriptionIdentifier: [1, 2, 3] } })
  const { parser, packets, errors } = collect({ protocolVersion: 5 })
  parser.parse(encode(pkt, 5))
  t.same(errors, [])
  t.same(packets, [pkt])
})

t.test('bad options are rejected with a clear message', async (t) => {
  t.throws(() => new Parser({ protocolVersion: 6 as 5 }), { name: 'RangeError', message: /protocolVersion: expected 3, 4 or 5, got 6/ })
  t.throws(() => new Parser({ maxPacketSize: Number.NaN }), { name: 'RangeError', message: /maxPacketSize/ })
  t.throws(() => new Parser({ maxPacketSize: 1 }), { name: 'RangeError', message: /at least 2/ })
  t.equal(new Parser({ maxPacketSize: 2 }).maxPacketSize, 2)
})

t.test('a nested parse() from inside onPacket is ignored', async (t) => {
  const got: string[] = []
  const parser: Parser = new Parser({
    onPacket: (p) => {
      got.push(p.cmd)
      parser.parse(Buffer.from('d000', 'hex'))
    }
  })
  parser.parse(Buffer.from('c000', 'hex'))
  parser.parse(Buffer.from('c000', 'hex'))
  t.same(got, ['pingreq', 'pingreq'])
  t.equal(parser.failed, false)
})

t.test('context is `this` for onPacket and onError', async (t) => {
  class Sink {
    packets: string[] = []
    errors: string[] = []
  }
  function onPacket (this: Sink, p: { cmd: string }): void { this.packets.push(p.cmd) }
  function onError (this: Sink, e: { code: string }): void { this.errors.push(e.code) }
  const a = new Sink()
  const b = new Sink()
  const pa = new Parser({ onPacket, onError, context: a })
  const pb = new Parser({ onPacket, onError, context: b })
  pa.parse(Buffer.from('c000', 'hex'))
  pb.parse(Buffer.from('d000', 'hex'))
  pb.parse(Buffer.from('f0', 'hex'))
  t.same(a, { packets: ['pingreq'], errors: [] })
  t.same(b, { packets: ['pingresp'], errors: ['PACKET_ERR_PACKET_TYPE'] })
})

t.test('parsers interleaved from inside onPacket decode independently', async (t) => {
  // one decoder serves every parser: a parse of another parser from a callback must not disturb this one
  const inner: string[] = []
  const other = new Parser({ onPacket: (p) => inner.push(p.cmd) })
  const outer: string[] = []
  const parser = new Parser({
    onPacket: (p) => {
      outer.push(p.cmd === 'publish' ? p.topic : p.cmd)
      other.parse(Buffer.from('d000', 'hex'))
    }
  })
  parser.parse(Buffer.concat([encode(publish(Buffer.from('x'), { topic: 'one' })), Buffer.from('c000', 'hex'), encode(publish(Buffer.from('y'), { topic: 'two' }))]))
  t.same(outer, ['one', 'pingreq', 'two'])
  t.same(inner, ['pingresp', 'pingresp', 'pingresp'])
})

t.test('a parser keeps no reference to a chunk once its packets are decoded', async (t) => {
  v8.setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const got: string[] = []
  const parser = new Parser({ onPacket: (p) => got.push(p.cmd), onError: (e) => got.push(e.code) })
  const ref = ((): WeakRef<ArrayBuffer> => {
    // a chunk with its own ArrayBuffer (not Buffer's shared pool)
    const chunk = Buffer.allocUnsafeSlow(2)
    chunk.set([0xc0, 0x00])
    parser.parse(chunk)
    return new WeakRef(chunk.buffer)
  })()
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  t.same(got, ['pingreq'])
  t.equal(ref.deref(), undefined, 'the chunk was collected while the parser lives')
  t.equal(parser.failed, false)
})

t.test('setMaxPacketSize changes the limit from the next fixed header', async (t) => {
  const { parser, packets, errors } = collect({ maxPacketSize: 64 })
  const big = encode(publish(Buffer.alloc(100)))
  t.throws(() => parser.setMaxPacketSize(1), RangeError)
  t.throws(() => parser.setMaxPacketSize(2.5), RangeError)
  parser.setMaxPacketSize(2 ** 40)
  t.equal(parser.maxPacketSize, MAX_PACKET_SIZE, 'capped at the protocol maximum')
  parser.setMaxPacketSize(200)
  t.equal(parser.maxPacketSize, 200)
  parser.parse(big)
  t.equal(packets.length, 1, 'accepted under the raised limit')
  parser.setMaxPacketSize(64)
  parser.parse(big)
  t.equal(errors[0]?.code, 'PACKET_ERR_PACKET_TOO_LARGE', 'refused under the lowered limit')
})

t.test('connectFirst: anything but CONNECT fails at its first byte [MQTT-3.1.0-1]', async (t) => {
  const { parser, errors } = collect({ connectFirst: true })
  parser.parse(Buffer.from([0x30])) // a PUBLISH's first byte, nothing else
  t.equal(errors.length, 1)
  t.equal(errors[0]?.code, 'PACKET_ERR_CONNECT_EXPECTED')
  t.equal(errors[0]?.reasonCode, 0x82)
  const ok = collect({ connectFirst: true })
  const connect = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'a' })
  // first byte alone, then the rest, then a PUBLISH: checked once, on the first packet only
  ok.parser.parse(connect.subarray(0, 1))
  ok.parser.parse(Buffer.concat([connect.subarray(1), encode(publish(Buffer.from('x')))]))
  t.same(ok.errors, [])
  t.same(ok.packets.map(p => p.cmd), ['connect', 'publish'])
})

t.test('a large announced body reserves memory only as its bytes arrive', async (t) => {
  const payload = Buffer.alloc(300_000)
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff
  const pkt = publish(payload)
  const bytes = encode(pkt)
  const { parser, packets, errors } = collect()
  const before = process.memoryUsage().arrayBuffers
  parser.parse(bytes.subarray(0, 10)) // header + 5 body bytes of ~300 KB
  t.ok(process.memoryUsage().arrayBuffers - before < 200_000, 'not the announced size at once')
  // then in 1000-byte pieces and one piece larger than the doubled buffer
  let at = 10
  for (; at < 100_000; at += 1000) parser.parse(bytes.subarray(at, at + 1000))
  parser.parse(bytes.subarray(at, at + 150_000))
  parser.parse(bytes.subarray(at + 150_000))
  t.same(errors, [])
  t.equal(packets.length, 1)
  t.same(packets[0], pkt)
  t.equal((packets[0] as PublishPacket).payload.buffer.byteLength >= payload.length, true)
  // a first piece larger than 64 KiB starts at its own size
  const two = collect()
  two.parser.parse(bytes.subarray(0, 100_000))
  two.parser.parse(bytes.subarray(100_000))
  t.same(two.packets, [pkt])
})

t.test('maxUserProperties and maxUserPropertyBytes bound user properties per packet', async (t) => {
  t.throws(() => new Parser({ maxUserProperties: -1 }), RangeError)
  t.throws(() => new Parser({ maxUserPropertyBytes: Number.NaN }), RangeError)
  const userProperties = Object.assign(Object.create(null), { a: ['1', '2', '3'] })
  const bytes = encode(publish(Buffer.alloc(0), { properties: { userProperties } }), 5)
  const three = collect({ protocolVersion: 5, maxUserProperties: 3, maxUserPropertyBytes: 18 })
  three.parser.parse(Buffer.concat([bytes, bytes]))
  t.equal(three.packets.length, 2, 'at the limit, counted per packet')
  const two = collect({ protocolVersion: 5, maxUserProperties: 2 })
  two.parser.parse(bytes)
  t.equal(two.errors[0]?.code, 'PACKET_ERR_PROPERTIES_LIMIT')
  t.equal(two.errors[0]?.reasonCode, 0x95)
  const small = collect({ protocolVersion: 5, maxUserPropertyBytes: 17 })
  small.parser.parse(bytes)
  t.equal(small.errors[0]?.code, 'PACKET_ERR_PROPERTIES_LIMIT')
  // CONNECT: its own and its will's user properties count together
  const connect = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'a', properties: { userProperties: { a: 'b' } }, will: { topic: 'w', payload: Buffer.alloc(0), qos: 0, retain: false, properties: { userProperties: { c: 'd' } } } })
  const one = collect({ maxUserProperties: 1 })
  one.parser.parse(connect)
  t.equal(one.errors[0]?.code, 'PACKET_ERR_PROPERTIES_LIMIT')
})

t.test('user properties decode in linear time', async (t) => {
  // Decoding 4n user properties costs about 4× the CPU time of n; a quadratic step would
  // cost 16×. CPU time (not wall time), best of three, so a loaded machine does not decide.
  const vbi = (x: number): number[] => { const o = []; do { let d = x % 128; x = Math.floor(x / 128); if (x > 0) d |= 128; o.push(d) } while (x > 0); return o }
  const packetWith = (n: number): Buffer => {
    const parts: Buffer[] = []
    for (let i = 0; i < n; i++) {
      const k = `k${i}`
      const b = Buffer.alloc(1 + 2 + k.length + 2 + 1)
      b[0] = 0x26
      b.writeUInt16BE(k.length, 1)
      b.write(k, 3)
      b.writeUInt16BE(1, 3 + k.length)
      b[5 + k.length] = 0x76
      parts.push(b)
    }
    const props = Buffer.concat(parts)
    const body = Buffer.concat([Buffer.from([0, 1, 0x74]), Buffer.from(vbi(props.length)), props])
    return Buffer.concat([Buffer.from([0x30, ...vbi(body.length)]), body])
  }
  const cpuMs = (n: number): number => {
    const bytes = packetWith(n)
    let best = Infinity
    for (let round = 0; round < 3; round++) {
      const { parser, packets, errors } = collect({ protocolVersion: 5 })
      const before = process.cpuUsage()
      parser.parse(bytes)
      const used = process.cpuUsage(before)
      t.same(errors, [], `${n}: no error`)
      t.equal(Object.keys((packets[0] as PublishPacket).properties?.userProperties ?? {}).length, n, `${n}: every property`)
      best = Math.min(best, (used.user + used.system) / 1000)
    }
    return best
  }
  const small = cpuMs(50_000)
  const large = cpuMs(200_000)
  t.ok(large < 12 * Math.max(small, 1), `4× the properties: ${large.toFixed(0)} ms against ${small.toFixed(0)} ms of CPU`)
})
