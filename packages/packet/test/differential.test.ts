/**
 * Differential tests against mqtt-packet 9.0.2, both directions, on generated packets of
 * every type and version:
 *   1. our encoder's bytes parse in mqtt-packet to the same packet;
 *   2. mqtt-packet's bytes parse in ours to the same packet.
 * Both sides go through one normalizer (test/normalize.ts).
 *
 * Known divergences (inputs skipped below, each also covered by a fixture row):
 *   D1 CONNECT 5.0 with a password and no username: mqtt-packet refuses to generate it
 *      ("Username is required to use password"); MQTT 5.0 3.1.2.9 allows it — only 3.1.1
 *      forbids it [MQTT-3.1.2-22].
 *   D2 AUTH with reason code 0x00 and no properties: we send remaining length 0, which
 *      mqtt-packet's parser rejects ("Invalid auth reason code"); MQTT 5.0 3.15.2.1 allows
 *      omitting the reason code and property length in that case.
 *   D3 Short forms: for PUBACK/PUBREC/PUBREL/PUBCOMP and DISCONNECT with reason 0x00 and no
 *      properties we omit the reason code (3.4.2.1, 3.14.2.1), and with another reason code
 *      and no properties we omit the property length (3.4.2.2.1); mqtt-packet writes them.
 *      Both forms parse to the same object in both parsers, so this is not skipped, only
 *      the bytes differ (fixture rows marked `own`).
 *   D4 A repeated user property key whose earlier value is the empty string: mqtt-packet's
 *      parser tests the previous value for truthiness and overwrites '' instead of making a
 *      list. User property values are any UTF-8 string, '' included (5.0 1.5.7, 3.3.2.3.7).
 *   D5 CONNECT with an empty client id and clean false (any version), or an empty client id in
 *      3.1: mqtt-packet refuses to generate it. It is well-formed: 3.1.1 [MQTT-3.1.3-8] has
 *      the server answer CONNACK 0x02, and 5.0 3.1.3.1 lets the server assign an id — the
 *      broker decides, not the codec.
 *   D6 User property order: mqtt-packet delivers an object, which cannot keep the order across
 *      names (integer-like names first, repeated names grouped). We also accept and deliver
 *      (Parser option `userProperties: 'pairs'`) an array of [name, value] pairs in wire order,
 *      which a broker needs to forward them unchanged [MQTT-3.3.2-17] [MQTT-3.3.2-18]. Our
 *      default stays mqtt-packet's object, so the comparisons below use it; mqtt-packet cannot
 *      encode pairs (it takes the array as an object whose names are "0", "1", …).
 * Divergences on bad input (we reject, mqtt-packet accepts) are listed in the README,
 * "Compatibility": non-minimal VBIs [MQTT-1.5.5-1], reason codes not defined for the packet,
 * property values out of range, wildcards in a will topic, no-local on shared subscriptions.
 */
import t from 'tap'
import fc from 'fast-check'
import { runs } from './runs.ts'
import mqtt from 'mqtt-packet'
import { Parser, encode, type Packet, type ProtocolVersion } from '../src/index.ts'
import { packet, version } from './arbitraries.ts'
import { normalize, same } from './normalize.ts'

const d1 = (p: Packet): boolean => p.cmd === 'connect' && p.protocolVersion === 5 && p.password !== undefined && p.username === undefined
const d4 = (p: unknown): boolean => JSON.stringify(p, (_k, v: unknown) => Buffer.isBuffer(v) ? null : v).includes('["",')
const d5 = (p: Packet): boolean => p.cmd === 'connect' && p.clientId === '' && (!p.clean || p.protocolVersion === 3)
const d2 = (p: Packet): boolean => p.cmd === 'auth' && p.reasonCode === 0 && p.properties === undefined

function theirParse (bytes: Buffer, v: ProtocolVersion): unknown[] {
  const out: unknown[] = []
  const parser = mqtt.parser({ protocolVersion: v })
  parser.on('packet', (p: unknown) => out.push(p))
  parser.on('error', (e: Error) => out.push({ error: e.message }))
  parser.parse(bytes)
  return out
}

function ourParse (bytes: Buffer, v: ProtocolVersion): unknown[] {
  const out: unknown[] = []
  const parser = new Parser({ protocolVersion: v, onPacket: (p) => out.push(p), onError: (e) => out.push({ error: e.code }) })
  parser.parse(bytes)
  return out
}

const arb = version.chain(v => fc.tuple(fc.constant(v), packet(v)))

t.test('our bytes parse identically in mqtt-packet', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(arb, ([v, p]) => {
    fc.pre(!d2(p) && !d4(p))
    const theirs = theirParse(encode(p, v), v)
    return theirs.length === 1 && same(normalize(theirs[0]), normalize(p))
  }), runs(1000)), 'ours → mqtt-packet')
})

t.test('mqtt-packet bytes parse identically in ours', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(arb, ([v, p]) => {
    fc.pre(!d1(p) && !d5(p))
    const bytes = mqtt.generate(p as unknown as mqtt.Packet, { protocolVersion: v })
    const ours = ourParse(bytes, v)
    return ours.length === 1 && same(normalize(ours[0]), normalize(p))
  }), runs(1000)), 'mqtt-packet → ours')
})

t.test('the listed divergences are real', async (t) => {
  const connect: Packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'a', password: Buffer.from('p') }
  t.throws(() => mqtt.generate(connect as unknown as mqtt.Packet, { protocolVersion: 5 }), /Username is required/, 'D1')
  t.same(ourParse(encode(connect, 5), 5), [connect], 'D1: we encode and parse it')
  const auth: Packet = { cmd: 'auth', reasonCode: 0 }
  t.same(theirParse(encode(auth, 5), 5), [{ error: 'Invalid auth reason code' }], 'D2')
  t.same(ourParse(encode(auth, 5), 5), [auth], 'D2: we parse it')
  const puback: Packet = { cmd: 'puback', messageId: 1, reasonCode: 0, properties: { userProperties: { k: ['', 'x'] } } }
  t.same(normalize(theirParse(encode(puback, 5), 5)[0]), normalize({ ...puback, properties: { userProperties: { k: 'x' } } }), 'D4')
  t.same(normalize(ourParse(encode(puback, 5), 5)[0]), normalize(puback), 'D4: we keep both values')
  const anon: Packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 0, clientId: '' }
  t.throws(() => mqtt.generate(anon as unknown as mqtt.Packet, { protocolVersion: 4 }), /clientId must be given/, 'D5')
  t.same(ourParse(encode(anon, 4), 4), [anon], 'D5: we encode and parse it')
  const ordered: Packet = { cmd: 'publish', topic: 't', payload: Buffer.from(''), qos: 0, dup: false, retain: false, properties: { userProperties: [['2', 'a'], ['k', 'b'], ['1', 'c'], ['k', 'd']] } }
  const theirs = theirParse(encode(ordered, 5), 5)[0] as { properties: { userProperties: Record<string, unknown> } }
  t.same(Object.entries(theirs.properties.userProperties), [['1', 'c'], ['2', 'a'], ['k', ['b', 'd']]], 'D6: their object reorders and groups')
  const pairs: Packet[] = []
  new Parser({ protocolVersion: 5, userProperties: 'pairs', onPacket: (p) => pairs.push(p) }).parse(encode(ordered, 5))
  t.same(pairs, [ordered], 'D6: our pairs parse to the packet encoded')
  t.strictSame((pairs[0] as { properties?: unknown } | undefined)?.properties, { userProperties: [['2', 'a'], ['k', 'b'], ['1', 'c'], ['k', 'd']] }, 'D6: our pairs keep the wire order')
})
