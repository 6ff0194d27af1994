import t from 'tap'
import { PassThrough } from 'node:stream'
import {
  DISCONNECT, PINGREQ, PINGRESP, Parser, encode, encodedLength, isPacketError, writeToStream,
  type Packet, type PacketErrorCode, type ProtocolVersion
} from '../src/index.ts'

const pub = (extra: Record<string, unknown> = {}): Packet => ({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 'a', payload: Buffer.from('x'), ...extra }) as Packet
const long = 'a'.repeat(65536)

interface Bad { name: string, packet: unknown, version?: ProtocolVersion | number, code: PacketErrorCode }

const bad: Bad[] = [
  { name: 'topic over 65535 bytes', packet: pub({ topic: long }), code: 'PACKET_ERR_ENCODE_STRING' },
  { name: 'topic with U+0000', packet: pub({ topic: 'a\u0000b' }), code: 'PACKET_ERR_ENCODE_STRING' },
  { name: 'topic with a lone surrogate', packet: pub({ topic: 'a\ud800' }), code: 'PACKET_ERR_ENCODE_STRING' },
  { name: 'non-ASCII topic with U+0000', packet: pub({ topic: 'ü\u0000' }), code: 'PACKET_ERR_ENCODE_STRING' },
  { name: 'topic not a string', packet: pub({ topic: 5 }), code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'topic with +', packet: pub({ topic: 'a/+' }), code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'topic with #', packet: pub({ topic: '#' }), code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'empty topic in 3.1.1', packet: pub({ topic: '' }), code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'empty topic in 5.0 without alias', packet: pub({ topic: '' }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'QoS 3', packet: pub({ qos: 3 }), code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'QoS 1 without messageId', packet: pub({ qos: 1 }), code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'messageId 0', packet: pub({ qos: 1, messageId: 0 }), code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'messageId 65536', packet: pub({ qos: 2, messageId: 65536 }), code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'messageId 1.5', packet: pub({ qos: 2, messageId: 1.5 }), code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'dup on QoS 0', packet: pub({ dup: true }), code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'payload a number', packet: pub({ payload: 5 }), code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'payload null', packet: pub({ payload: null }), code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'correlation data over 65535 bytes', packet: pub({ properties: { correlationData: Buffer.alloc(65536) } }), version: 5, code: 'PACKET_ERR_ENCODE_BINARY' },
  { name: 'property not allowed on PUBLISH', packet: pub({ properties: { sessionExpiryInterval: 1 } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'unknown property', packet: pub({ properties: { colour: 'red' } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'topic alias 0', packet: pub({ properties: { topicAlias: 0 } }), version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'boolean property given a number', packet: pub({ properties: { payloadFormatIndicator: 1 } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'message expiry over 32 bits', packet: pub({ properties: { messageExpiryInterval: 2 ** 32 } }), version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'subscription identifier over 268435455', packet: pub({ properties: { subscriptionIdentifier: 268435456 } }), version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'subscription identifier 0 in a list', packet: pub({ properties: { subscriptionIdentifier: [1, 0] } }), version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'userProperties null', packet: pub({ properties: { userProperties: null } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'userProperties a string', packet: pub({ properties: { userProperties: 'x' } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'user property value a number', packet: pub({ properties: { userProperties: { a: 1 } } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'user property list with a number', packet: pub({ properties: { userProperties: { a: ['x', 2] } } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'content type not a string', packet: pub({ properties: { contentType: 1 } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'correlation data a number', packet: pub({ properties: { correlationData: 1 } }), version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'version 6', packet: pub(), version: 6, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'unknown cmd', packet: { cmd: 'hello' }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT version 6', packet: { cmd: 'connect', protocolVersion: 6, clientId: 'a' }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT MQIsdp with version 4', packet: { cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 4, clientId: 'a' }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT unknown protocol name', packet: { cmd: 'connect', protocolId: 'MQTX', protocolVersion: 4, clientId: 'a' }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT MQTT with version 3', packet: { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 3, clientId: 'a' }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT 5.0 bridge mode', packet: { cmd: 'connect', protocolVersion: 5, bridgeMode: true, clientId: 'a' }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT keepalive 65536', packet: { cmd: 'connect', protocolVersion: 4, keepalive: 65536, clientId: 'a' }, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'CONNECT password without username in 3.1.1', packet: { cmd: 'connect', protocolVersion: 4, clientId: 'a', password: Buffer.from('p') }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT will QoS 3', packet: { cmd: 'connect', protocolVersion: 4, clientId: 'a', will: { topic: 't', payload: Buffer.alloc(0), qos: 3, retain: false } }, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'CONNECT empty will topic', packet: { cmd: 'connect', protocolVersion: 4, clientId: 'a', will: { topic: '', payload: Buffer.alloc(0), qos: 0, retain: false } }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT will payload over 65535 bytes', packet: { cmd: 'connect', protocolVersion: 4, clientId: 'a', will: { topic: 't', payload: Buffer.alloc(65536), qos: 0, retain: false } }, code: 'PACKET_ERR_ENCODE_BINARY' },
  { name: 'CONNECT client id not a string', packet: { cmd: 'connect', protocolVersion: 4, clientId: 1 }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNECT property of CONNACK', packet: { cmd: 'connect', protocolVersion: 5, clientId: 'a', properties: { maximumQoS: 1 } }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNACK return code 6', packet: { cmd: 'connack', sessionPresent: false, returnCode: 6 }, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'CONNACK return code as a string', packet: { cmd: 'connack', sessionPresent: false, returnCode: '0' }, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'CONNACK session present with refusal', packet: { cmd: 'connack', sessionPresent: true, returnCode: 5 }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNACK 5.0 session present with 0x80', packet: { cmd: 'connack', sessionPresent: true, reasonCode: 0x80 }, version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'CONNACK 5.0 maximum QoS 2', packet: { cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 2 } }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'CONNACK 5.0 receive maximum 0', packet: { cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 0 } }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'PUBACK without messageId', packet: { cmd: 'puback' }, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'PUBACK 5.0 reason 0x92', packet: { cmd: 'puback', messageId: 1, reasonCode: 0x92 }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'PUBREL 5.0 reason 0x10', packet: { cmd: 'pubrel', messageId: 1, reasonCode: 0x10 }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'SUBSCRIBE without subscriptions', packet: { cmd: 'subscribe', messageId: 1, subscriptions: [] }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'SUBSCRIBE subscriptions missing', packet: { cmd: 'subscribe', messageId: 1 }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'SUBSCRIBE QoS 3', packet: { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 3 }] }, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'SUBSCRIBE 5.0 retain handling 3', packet: { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0, rh: 3 }] }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'SUBSCRIBE 5.0 no-local on a shared subscription', packet: { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/a', qos: 0, nl: true }] }, version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'SUBSCRIBE 5.0 subscription identifier list', packet: { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }], properties: { subscriptionIdentifier: [1, 2] } }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'SUBACK without codes', packet: { cmd: 'suback', messageId: 1, granted: [] }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'SUBACK return code 3', packet: { cmd: 'suback', messageId: 1, granted: [3] }, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'UNSUBSCRIBE without filters', packet: { cmd: 'unsubscribe', messageId: 1, unsubscriptions: [] }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'UNSUBSCRIBE filters missing', packet: { cmd: 'unsubscribe', messageId: 1 }, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'UNSUBACK 5.0 without codes', packet: { cmd: 'unsuback', messageId: 1 }, version: 5, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'DISCONNECT 5.0 reason 0x01', packet: { cmd: 'disconnect', reasonCode: 1 }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' },
  { name: 'AUTH in 3.1.1', packet: { cmd: 'auth' }, version: 4, code: 'PACKET_ERR_ENCODE_INVALID' },
  { name: 'AUTH 5.0 reason 0x01', packet: { cmd: 'auth', reasonCode: 1 }, version: 5, code: 'PACKET_ERR_ENCODE_RANGE' }
]

for (const row of bad) {
  t.test(`encode error: ${row.name}`, async (t) => {
    const v = (row.version ?? 4) as ProtocolVersion
    for (const fn of [encode, encodedLength]) {
      try {
        fn(row.packet as Packet, v)
        t.fail('expected an error')
      } catch (err) {
        t.ok(isPacketError(err), 'a PacketError')
        t.equal((err as { code: string }).code, row.code, 'code')
        t.equal((err as { reasonCode: unknown }).reasonCode, undefined, 'no reason code')
      }
    }
  })
}

t.test('remaining length over 268435455 is an error, checked before allocating', async (t) => {
  const payload = Buffer.allocUnsafeSlow(268435456)
  t.throws(() => encodedLength(pub({ payload })), { code: 'PACKET_ERR_ENCODE_TOO_LARGE' })
  t.throws(() => encode(pub({ payload })), { code: 'PACKET_ERR_ENCODE_TOO_LARGE' })
  const big = 'b'.repeat(65535)
  const userProperties = { k: new Array(4100).fill(big) }
  t.throws(() => encodedLength({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'a', properties: { userProperties } }), { code: 'PACKET_ERR_ENCODE_TOO_LARGE' })
})

t.test('defaults and lenient inputs', async (t) => {
  const parse = (buf: Buffer, version: ProtocolVersion = 4): Packet[] => {
    const out: Packet[] = []
    new Parser({ protocolVersion: version, onPacket: (p) => out.push(p) }).parse(buf)
    return out
  }
  // version defaults to 4; string and Uint8Array payloads are accepted
  const s = encode(pub({ payload: 'hi' }))
  t.same(parse(s)[0], pub({ payload: Buffer.from('hi') }))
  const u = encode(pub({ payload: new Uint8Array([1, 2]) }))
  t.same(parse(u)[0], pub({ payload: Buffer.from([1, 2]) }))
  // CONNECT with only the required minimum: defaults protocol 4, 'MQTT', clean, keepalive 0, empty client id
  const c = encode({ cmd: 'connect' } as unknown as Packet)
  t.same(parse(c)[0], { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: '' })
  const c3 = encode({ cmd: 'connect', protocolVersion: 3, clean: false, will: { topic: 't' }, username: 'u', password: 'p' } as unknown as Packet)
  t.same(parse(c3)[0], { cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: false, keepalive: 0, clientId: '', will: { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false }, username: 'u', password: Buffer.from('p') })
  // CONNACK: returnCode and reasonCode are interchangeable, default 0
  t.equal(encode({ cmd: 'connack', reasonCode: 5 } as unknown as Packet, 4).toString('hex'), '20020005')
  t.equal(encode({ cmd: 'connack', returnCode: 0x87 } as unknown as Packet, 5).toString('hex'), '2003008700')
  t.equal(encode({ cmd: 'connack' } as unknown as Packet, 4).toString('hex'), '20020000')
  t.equal(encode({ cmd: 'connack' } as unknown as Packet, 5).toString('hex'), '2003000000')
  // PUBLISH without qos is QoS 0; properties undefined values are skipped
  t.equal(encode({ cmd: 'publish', topic: 'a', payload: Buffer.alloc(0) } as unknown as Packet).toString('hex'), '3003000161')
  t.equal(encodedLength({ cmd: 'publish', topic: 'a', payload: Buffer.alloc(0) } as unknown as Packet), 5)
  t.equal(encode(pub({ properties: { contentType: undefined } }), 5).toString('hex'), '30050001610078')
  t.equal(encode(pub({ properties: { contentType: undefined, topicAlias: 1 } }), 5).toString('hex'), '3008000161032300017' + '8')
  t.equal(encode(pub({ properties: null }), 5).toString('hex'), '30050001610078')
  // acks, DISCONNECT and AUTH without reason code are 0x00
  t.equal(encode({ cmd: 'puback', messageId: 1 }, 5).toString('hex'), '40020001')
  t.equal(encode({ cmd: 'pubrel', messageId: 1, reasonCode: 0, properties: { reasonString: 'r' } }, 5).toString('hex'), '62080001' + '00' + '04' + '1f000172')
  t.equal(encode({ cmd: 'disconnect' }, 5).toString('hex'), 'e000')
  t.equal(encode({ cmd: 'disconnect', reasonCode: 0x8e }, 5).toString('hex'), 'e0018e')
  t.equal(encode({ cmd: 'auth' }, 5).toString('hex'), 'f000')
  t.equal(encode({ cmd: 'auth', reasonCode: 0x19 }, 5).toString('hex'), 'f0021900')
  // SUBSCRIBE 5.0 without options fields: all zero
  t.equal(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 1 }] }, 5).toString('hex'), '8207000100000161' + '01')
  // long ASCII and non-ASCII strings take the native write path
  const longTopic = 'x'.repeat(100)
  t.same(parse(encode(pub({ topic: longTopic })))[0], pub({ topic: longTopic }))
  const uni = 'ü'.repeat(30)
  t.same(parse(encode(pub({ topic: uni, payload: Buffer.alloc(40, 1) })))[0], pub({ topic: uni, payload: Buffer.alloc(40, 1) }))
})

t.test('precomputed packets', async (t) => {
  t.equal(PINGREQ.toString('hex'), 'c000')
  t.equal(PINGRESP.toString('hex'), 'd000')
  t.equal(DISCONNECT.toString('hex'), 'e000')
  t.equal(encode({ cmd: 'pingreq' }).toString('hex'), 'c000')
  t.not(encode({ cmd: 'pingreq' }), PINGREQ, 'encode returns a fresh buffer')
})

t.test('writeToStream writes one chunk per packet', async (t) => {
  const stream = new PassThrough()
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  t.equal(writeToStream({ cmd: 'pingreq' }, stream), true)
  t.equal(writeToStream({ cmd: 'pingresp' }, stream, 5), true)
  t.equal(writeToStream(pub(), stream, 5), true)
  t.equal(writeToStream({ cmd: 'puback', messageId: 1 }, stream), true)
  await new Promise(resolve => setImmediate(resolve))
  t.same(chunks.map(c => c.toString('hex')), ['c000', 'd000', '30050001610078', '40020001'])
  t.throws(() => writeToStream(pub({ qos: 3 }), stream), { code: 'PACKET_ERR_ENCODE_RANGE' })
})

t.test('packets of 4..16 KiB come from a shared slab and never overlap', async (t) => {
  const sizes = [4200, 9000, 16000, 5000, 12000, 7000, 15000, 4100, 8000, 16300, 6000, 11000, 10000, 14000, 13000, 4096, 20000]
  const bufs = sizes.map((n, i) => encode(pub({ payload: Buffer.alloc(n, i + 1) })))
  bufs.forEach((b, i) => {
    const got: Packet[] = []
    new Parser({ onPacket: (p) => got.push(p) }).parse(b)
    t.same(got, [pub({ payload: Buffer.alloc(sizes[i] as number, i + 1) })], `packet ${i} intact`)
  })
  t.ok(new Set(bufs.map(b => b.buffer)).size < bufs.length, 'some share memory')
})
