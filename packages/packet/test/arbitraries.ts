/**
 * fast-check arbitraries for every packet type and protocol version, producing packet
 * objects in exactly the shape the Parser delivers (so parse(encode(p)) must equal p).
 */
import fc from 'fast-check'
import type { Packet, ProtocolVersion } from '../src/index.ts'
import {
  ALLOWED_LIST, K_ACK, K_AUTH, K_CONNACK, K_CONNECT, K_DISCONNECT, K_PUBLISH, K_SUBACK, K_SUBSCRIBE,
  K_UNSUBACK, K_UNSUBSCRIBE, K_WILL, T_BINARY, T_BOOL, T_BYTE, T_STRING, T_U16, T_U32,
  T_VARINT, V_NONZERO, type PropertyDef
} from '../src/properties.ts'
import {
  AUTH_V5, CONNACK_V5, DISCONNECT_V5, PUBACK_V5, PUBREL_V5, SUBACK_V5, UNSUBACK_V5
} from '../src/reason-codes.ts'

const codesOf = (table: Uint8Array): number[] => [...table.keys()].filter(i => table[i] === 1)

/** Any MQTT string: full Unicode (astral included), no U+0000. */
export const str = (maxLength = 12): fc.Arbitrary<string> =>
  fc.string({ unit: fc.oneof(fc.constantFrom('a', 'b', '/', ' ', '$', 'ü', '€', '𝄞'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength })
    .map(s => s.replaceAll('\u0000', '_'))

export const topicName = (): fc.Arbitrary<string> => str().map(s => s.replace(/[+#]/g, '_')).filter(s => s.length > 0)
const filter = (): fc.Arbitrary<string> => fc.oneof(str(), fc.constantFrom('a/+', '#', '+/b/#', '$share/g/t')).filter(s => s.length > 0)
const bytes = (maxLength = 32): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map(a => Buffer.from(a))
const u32 = fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([a, b]) => a * 65536 + b)
const messageId = fc.integer({ min: 1, max: 65535 })
const qos = fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>

/** Keys safe for every peer (mqtt-packet uses a plain {} for user properties). */
const userKey = str(6).filter(k => k !== '__proto__')
const userProperties = fc.dictionary(userKey, fc.oneof(str(8), fc.array(str(8), { minLength: 2, maxLength: 3 })), { minKeys: 1, maxKeys: 3, noNullPrototype: true })

function valueOf (d: PropertyDef, kind: number): fc.Arbitrary<unknown> {
  switch (d.type) {
    case T_BOOL: return fc.boolean()
    case T_BYTE: return fc.constantFrom(0, 1)
    case T_U16: return fc.integer({ min: d.rule === V_NONZERO ? 1 : 0, max: 65535 })
    case T_U32: return d.rule === V_NONZERO ? u32.map(x => x === 0 ? 1 : x) : u32
    case T_VARINT: {
      const one = fc.integer({ min: 1, max: 268435455 })
      return kind === K_PUBLISH ? fc.oneof(one, fc.array(one, { minLength: 2, maxLength: 3 })) : one
    }
    case T_STRING: return str()
    case T_BINARY: return bytes(8)
    default: return userProperties
  }
}

/** A non-empty (or absent) property object for a property section kind. */
export function properties (kind: number): fc.Arbitrary<Record<string, unknown> | undefined> {
  const model: Record<string, fc.Arbitrary<unknown>> = {}
  for (const d of ALLOWED_LIST[kind]!) model[d.name] = valueOf(d, kind)
  return fc.option(fc.record(model, { requiredKeys: [] }).filter(o => Object.keys(o).length > 0), { nil: undefined })
}

const withProps = <T extends object>(p: T, props: Record<string, unknown> | undefined): T =>
  props === undefined ? p : { ...p, properties: props }

export function connect (version: ProtocolVersion): fc.Arbitrary<Packet> {
  const will = fc.record({
    topic: topicName(),
    payload: bytes(),
    qos,
    retain: fc.boolean(),
    properties: version === 5 ? properties(K_WILL) : fc.constant(undefined)
  }).map(w => withProps({ topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain }, w.properties))
  return fc.record({
    clean: fc.boolean(),
    bridgeMode: fc.boolean(),
    keepalive: fc.nat(65535),
    clientId: str(23),
    will: fc.option(will, { nil: undefined }),
    username: fc.option(str(), { nil: undefined }),
    password: fc.option(bytes(), { nil: undefined }),
    properties: version === 5 ? properties(K_CONNECT) : fc.constant(undefined)
  }).map(r => {
    const p: Record<string, unknown> = { cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version }
    if (r.bridgeMode && version < 5) p.bridgeMode = true
    p.clean = r.clean
    p.keepalive = r.keepalive
    p.clientId = r.clientId
    if (r.properties !== undefined) p.properties = r.properties
    if (r.will !== undefined) p.will = r.will
    if (r.username !== undefined) p.username = r.username
    if (r.password !== undefined && (version === 5 || r.username !== undefined)) p.password = r.password
    return p as unknown as Packet
  })
}

export function connack (version: ProtocolVersion): fc.Arbitrary<Packet> {
  if (version < 5) {
    return fc.record({ sessionPresent: fc.boolean(), returnCode: fc.integer({ min: 0, max: 5 }) })
      .map(r => ({ cmd: 'connack', sessionPresent: r.sessionPresent && r.returnCode === 0, returnCode: r.returnCode }) as Packet)
  }
  return fc.record({ sessionPresent: fc.boolean(), reasonCode: fc.constantFrom(...codesOf(CONNACK_V5)), properties: properties(K_CONNACK) })
    .map(r => withProps({ cmd: 'connack', sessionPresent: r.sessionPresent && r.reasonCode === 0, reasonCode: r.reasonCode }, r.properties) as Packet)
}

export function publish (version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc.record({
    qos,
    dup: fc.boolean(),
    retain: fc.boolean(),
    topic: topicName(),
    emptyTopic: fc.boolean(),
    payload: bytes(64),
    messageId,
    properties: version === 5 ? properties(K_PUBLISH) : fc.constant(undefined)
  }).map(r => {
    const useAlias = version === 5 && r.emptyTopic && r.properties?.topicAlias !== undefined
    const p: Record<string, unknown> = { cmd: 'publish', qos: r.qos, dup: r.qos > 0 && r.dup, retain: r.retain, topic: useAlias ? '' : r.topic, payload: r.payload }
    if (r.qos > 0) p.messageId = r.messageId
    if (r.properties !== undefined) p.properties = r.properties
    return p as unknown as Packet
  })
}

export function ack (version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp').chain(cmd => {
    if (version < 5) return messageId.map(id => ({ cmd, messageId: id }) as Packet)
    const codes = codesOf(cmd === 'puback' || cmd === 'pubrec' ? PUBACK_V5 : PUBREL_V5)
    return fc.record({ messageId, reasonCode: fc.constantFrom(...codes), properties: properties(K_ACK) })
      .map(r => withProps({ cmd, messageId: r.messageId, reasonCode: r.reasonCode }, r.properties) as Packet)
  })
}

export function subscribe (version: ProtocolVersion): fc.Arbitrary<Packet> {
  const sub = version < 5
    ? fc.record({ topic: filter(), qos })
    : fc.record({ topic: filter(), qos, nl: fc.boolean(), rap: fc.boolean(), rh: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2> })
      .map(s => ({ ...s, nl: s.nl && !s.topic.startsWith('$share/') }))
  return fc.record({ messageId, subscriptions: fc.array(sub, { minLength: 1, maxLength: 4 }), properties: version === 5 ? properties(K_SUBSCRIBE) : fc.constant(undefined) })
    .map(r => withProps({ cmd: 'subscribe', messageId: r.messageId, subscriptions: r.subscriptions }, r.properties) as Packet)
}

export function suback (version: ProtocolVersion): fc.Arbitrary<Packet> {
  const code = version < 5 ? fc.constantFrom(0, 1, 2, 0x80) : fc.constantFrom(...codesOf(SUBACK_V5))
  return fc.record({ messageId, granted: fc.array(code, { minLength: 1, maxLength: 4 }), properties: version === 5 ? properties(K_SUBACK) : fc.constant(undefined) })
    .map(r => withProps({ cmd: 'suback', messageId: r.messageId, granted: r.granted }, r.properties) as Packet)
}

export function unsubscribe (version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc.record({ messageId, unsubscriptions: fc.array(filter(), { minLength: 1, maxLength: 4 }), properties: version === 5 ? properties(K_UNSUBSCRIBE) : fc.constant(undefined) })
    .map(r => withProps({ cmd: 'unsubscribe', messageId: r.messageId, unsubscriptions: r.unsubscriptions }, r.properties) as Packet)
}

export function unsuback (version: ProtocolVersion): fc.Arbitrary<Packet> {
  if (version < 5) return messageId.map(id => ({ cmd: 'unsuback', messageId: id }) as Packet)
  return fc.record({ messageId, granted: fc.array(fc.constantFrom(...codesOf(UNSUBACK_V5)), { minLength: 1, maxLength: 4 }), properties: properties(K_UNSUBACK) })
    .map(r => withProps({ cmd: 'unsuback', messageId: r.messageId, granted: r.granted }, r.properties) as Packet)
}

export function disconnect (version: ProtocolVersion): fc.Arbitrary<Packet> {
  if (version < 5) return fc.constant({ cmd: 'disconnect' } as Packet)
  return fc.record({ reasonCode: fc.constantFrom(...codesOf(DISCONNECT_V5)), properties: properties(K_DISCONNECT) })
    .map(r => withProps({ cmd: 'disconnect', reasonCode: r.reasonCode }, r.properties) as Packet)
}

export function auth (): fc.Arbitrary<Packet> {
  return fc.record({ reasonCode: fc.constantFrom(...codesOf(AUTH_V5)), properties: properties(K_AUTH) })
    .map(r => withProps({ cmd: 'auth', reasonCode: r.reasonCode }, r.properties) as Packet)
}

/** Every packet type valid in `version`. CONNECT only when `withConnect` (it switches a server parser's version). */
export function packet (version: ProtocolVersion, withConnect = true): fc.Arbitrary<Packet> {
  const all = [
    connack(version), publish(version), ack(version), subscribe(version), suback(version), unsubscribe(version),
    unsuback(version), disconnect(version), fc.constant({ cmd: 'pingreq' } as Packet), fc.constant({ cmd: 'pingresp' } as Packet)
  ]
  if (withConnect) all.push(connect(version))
  if (version === 5) all.push(auth())
  return fc.oneof(...all)
}

export const version = fc.constantFrom(3, 4, 5) as fc.Arbitrary<ProtocolVersion>
