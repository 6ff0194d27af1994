/**
 * The ordered form of user properties: `Parser({ userProperties: 'pairs' })` delivers
 * `[name, value]` pairs in wire order, and `encode` writes pairs in array order
 * [MQTT-3.3.2-17] [MQTT-3.3.2-18]. The default object form stays mqtt-packet's.
 */
import t from 'tap'
import fc from 'fast-check'
import { runs } from './runs.ts'
import { Parser, encode, encodedLength, type Packet, type PacketError, type ProtocolVersion, type UserPropertyPairs } from '../src/index.ts'

function parse (bytes: Buffer, v: ProtocolVersion, shape?: 'object' | 'pairs'): { packets: Packet[], errors: PacketError[] } {
  const packets: Packet[] = []
  const errors: PacketError[] = []
  const opts = shape === undefined ? {} : { userProperties: shape }
  const parser = new Parser({ protocolVersion: v, ...opts, onPacket: (p) => packets.push(p), onError: (e) => errors.push(e) })
  parser.parse(bytes)
  return { packets, errors }
}

// Names that a JS object would reorder (integer-like) or group (repeated), and plain ones.
const name = fc.constantFrom('2', '10', '1', '0', 'k', 'a', 'z', '__proto__', '')
const value = fc.oneof(fc.constantFrom('', 'v', '1'), fc.string({ maxLength: 6 }).filter(s => !s.includes('\u0000')))
const pairs: fc.Arbitrary<UserPropertyPairs> = fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 12 })

function userPropertiesOf (p: Packet | undefined): unknown {
  return (p as { properties?: { userProperties?: unknown } } | undefined)?.properties?.userProperties
}

t.test('decode(encode(p)) keeps user properties in order, repeated and integer-like names too', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(pairs, fc.constantFrom(0, 1, 2), (up, qos) => {
    const p: Packet = qos === 0
      ? { cmd: 'publish', topic: 't/u', payload: Buffer.from('x'), qos, dup: false, retain: false, properties: { userProperties: up } }
      : { cmd: 'publish', topic: 't/u', payload: Buffer.from('x'), qos, messageId: 7, dup: false, retain: false, properties: { userProperties: up } }
    const bytes = encode(p, 5)
    if (encodedLength(p, 5) !== bytes.length) return false
    const res = parse(bytes, 5, 'pairs')
    return res.errors.length === 0 && res.packets.length === 1 &&
      JSON.stringify(userPropertiesOf(res.packets[0])) === JSON.stringify(up)
  }), runs(1000)), 'order holds on PUBLISH')
  t.doesNotThrow(() => fc.assert(fc.property(pairs, pairs, pairs, (a, b, c) => {
    const will = { topic: 'w', payload: Buffer.from('x'), qos: 1 as const, retain: false, properties: { userProperties: b } }
    const p: Packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'c', properties: { userProperties: a }, will }
    const res = parse(encode(p, 5), 5, 'pairs')
    const got = res.packets[0] as Packet & { cmd: 'connect' }
    const ack = parse(encode({ cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { userProperties: c } }, 5), 5, 'pairs')
    return res.errors.length === 0 && JSON.stringify(got.properties?.userProperties) === JSON.stringify(a) &&
      JSON.stringify(got.will?.properties?.userProperties) === JSON.stringify(b) &&
      JSON.stringify(userPropertiesOf(ack.packets[0])) === JSON.stringify(c)
  }), runs(300)), 'order holds on CONNECT, its will, and acks')
})

t.test('the wire order is the array order; the object form is mqtt-packet\'s', async (t) => {
  const up: UserPropertyPairs = [['2', 'a'], ['k', 'b'], ['10', 'c'], ['1', 'd'], ['k', 'e']]
  const p: Packet = { cmd: 'publish', topic: 't', payload: Buffer.from(''), qos: 0, dup: false, retain: false, properties: { userProperties: up } }
  const bytes = encode(p, 5)
  // name/value strings as they appear on the wire, in order
  const text = bytes.toString('latin1')
  const at = up.map(([k, v]) => text.indexOf(`\u0026\u0000${String.fromCharCode(k.length)}${k}\u0000\u0001${v}`))
  t.ok(at.every((x, i) => x > 0 && (i === 0 || x > (at[i - 1] as number))), 'written in array order')
  t.strictSame(userPropertiesOf(parse(bytes, 5, 'pairs').packets[0]), up, 'pairs: same order back')
  const obj = userPropertiesOf(parse(bytes, 5).packets[0]) as Record<string, unknown>
  t.same(Object.keys(obj), ['1', '2', '10', 'k'], 'object (default): integer-like names first, repeated grouped')
  t.same(obj.k, ['b', 'e'])
  t.same(userPropertiesOf(parse(bytes, 5, 'object').packets[0]), obj, "'object' is the default")
  // the object form still encodes as before
  const again = encode({ ...p, properties: { userProperties: { k: ['b', 'e'], z: 'y' } } }, 5)
  t.strictSame(userPropertiesOf(parse(again, 5, 'pairs').packets[0]), [['k', 'b'], ['k', 'e'], ['z', 'y']])
})

t.test('pairs are validated when encoding', async (t) => {
  const pub = (userProperties: unknown): Packet => ({ cmd: 'publish', topic: 't', payload: Buffer.from(''), qos: 0, dup: false, retain: false, properties: { userProperties } } as unknown as Packet)
  t.throws(() => encode(pub([['k']]), 5), { code: 'PACKET_ERR_ENCODE_INVALID' }, 'a pair of one')
  t.throws(() => encode(pub(['kv']), 5), { code: 'PACKET_ERR_ENCODE_INVALID' }, 'not a pair')
  t.throws(() => encode(pub([['k', 1]]), 5), { code: 'PACKET_ERR_ENCODE_INVALID' }, 'a value that is not a string')
  t.throws(() => encode(pub([[2, 'v']]), 5), { code: 'PACKET_ERR_ENCODE_INVALID' }, 'a name that is not a string')
  t.throws(() => encode(pub([['k', 'a\u0000']]), 5), { code: 'PACKET_ERR_ENCODE_STRING' }, 'U+0000')
  t.throws(() => encode(pub(null), 5), { code: 'PACKET_ERR_ENCODE_INVALID' }, 'null')
  t.same(userPropertiesOf(parse(encode(pub([]), 5), 5, 'pairs').packets[0]), undefined, 'an empty list writes nothing')
})

t.test('the limits apply to pairs too', async (t) => {
  const p: Packet = { cmd: 'publish', topic: 't', payload: Buffer.from(''), qos: 0, dup: false, retain: false, properties: { userProperties: [['a', '1'], ['a', '2'], ['b', '3']] } }
  const errors: PacketError[] = []
  const parser = new Parser({ protocolVersion: 5, userProperties: 'pairs', maxUserProperties: 2, onError: (e) => errors.push(e) })
  parser.parse(encode(p, 5))
  t.equal(errors[0]?.code, 'PACKET_ERR_PROPERTIES_LIMIT')
})

t.test('the option is checked', async (t) => {
  t.throws(() => new Parser({ userProperties: 'map' as 'pairs' }), RangeError)
})
