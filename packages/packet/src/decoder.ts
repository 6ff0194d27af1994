/**
 * Decodes the variable header and payload of one complete packet (the bytes after the
 * fixed header). The Parser (parser.ts) finds packet boundaries; this module only sees
 * whole packets and throws a PacketError on the first rule a packet breaks.
 *
 * Buffers in the result (PUBLISH payload, binary properties, will payload, password) are
 * views into the input buffer: no bytes are copied.
 */
import { PacketError, type PacketErrorCode } from './errors.ts'
import {
  ALLOWED_BY_ID, K_ACK, K_AUTH, K_CONNACK, K_CONNECT, K_DISCONNECT, K_PUBLISH, K_SUBACK,
  K_SUBSCRIBE, K_UNSUBACK, K_UNSUBSCRIBE, K_WILL, T_BINARY, T_BOOL, T_BYTE, T_STRING, T_U16,
  T_U32, T_VARINT, V_NONZERO, V_ZERO_ONE
} from './properties.ts'
import {
  AUTH_V5, CONNACK_V4, CONNACK_V5, DISCONNECT_V5, PUBACK_V5, PUBREL_V5, SUBACK_V4, SUBACK_V5,
  UNSUBACK_V5
} from './reason-codes.ts'
import type {
  AuthPacket, ConnackPacket, ConnectPacket, DisconnectPacket, Packet, ProtocolVersion,
  PublishPacket, QoS, SubackPacket, SubscribePacket, Subscription, UnsubackPacket,
  UnsubscribePacket, UserPropertiesObject, UserPropertyPairs, Will
} from './types.ts'
import { decodeString } from './utf8.ts'

const EMPTY = Buffer.alloc(0)
const ACK_CMDS = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const

/**
 * Reads one packet body. One instance serves every Parser (decoding never calls user code,
 * so it cannot be re-entered); fields are reset for each packet, and the parser calls
 * `release()` after each one so that no input chunk stays referenced.
 */
export class Decoder {
  buf: Buffer
  pos: number
  end: number
  start: number
  version: ProtocolVersion
  /** User properties the rest of this packet may still carry (Parser option maxUserProperties). */
  userLeft: number
  /** Bytes (names and values, as on the wire) the rest of this packet's user properties may still take. */
  userBytesLeft: number
  /** Deliver user properties as `[name, value]` pairs (Parser option userProperties: 'pairs'). */
  pairs: boolean

  constructor () {
    this.buf = EMPTY
    this.pos = 0
    this.end = 0
    this.start = 0
    this.version = 4
    this.userLeft = Infinity
    this.userBytesLeft = Infinity
    this.pairs = false
  }

  /** Drop the reference to the last input (an idle connection must not keep its last read alive). */
  release (): void {
    this.buf = EMPTY
  }

  /**
   * Decode the body `buf[start, end)` of a packet whose fixed-header byte is `header`
   * (already checked for type and flags by the parser). `maxUser` and `maxUserBytes` bound
   * the user properties of the whole packet (count, and bytes of names and values).
   * @throws PacketError
   */
  decode (header: number, buf: Buffer, start: number, end: number, version: ProtocolVersion, maxUser = Infinity, maxUserBytes = Infinity, pairs = false): Packet {
    this.buf = buf
    this.pos = start
    this.start = start
    this.end = end
    this.version = version
    this.userLeft = maxUser
    this.userBytesLeft = maxUserBytes
    this.pairs = pairs
    switch (header >> 4) {
      case 3: return this.publish(header)
      case 4: case 5: case 6: case 7: return this.ack(header >> 4)
      case 1: return this.connect()
      case 2: return this.connack()
      case 8: return this.subscribe()
      case 9: return this.suback()
      case 10: return this.unsubscribe()
      case 11: return this.unsuback()
      case 12: this.done(); return { cmd: 'pingreq' }
      case 13: this.done(); return { cmd: 'pingresp' }
      case 14: return this.disconnect()
      default: return this.auth()
    }
  }

  // ── primitives ──────────────────────────────────────────────────────────────

  fail (code: PacketErrorCode, message: string): PacketError {
    return new PacketError(code, `${message} (offset ${this.pos - this.start} of the packet body)`)
  }

  truncated (what: string): PacketError {
    return this.fail('PACKET_ERR_TRUNCATED', `expected ${what}, got the end of the packet (remaining length ${this.end - this.start})`)
  }

  done (): void {
    if (this.pos !== this.end) {
      throw this.fail('PACKET_ERR_TRAILING_BYTES', `expected the end of the packet, got ${this.end - this.pos} more bytes`)
    }
  }

  u8 (): number {
    if (this.pos >= this.end) throw this.truncated('a byte')
    return this.buf[this.pos++] as number
  }

  u16 (): number {
    const p = this.pos
    if (p + 2 > this.end) throw this.truncated('a two byte integer')
    this.pos = p + 2
    return ((this.buf[p] as number) << 8) | (this.buf[p + 1] as number)
  }

  u32 (): number {
    const p = this.pos
    if (p + 4 > this.end) throw this.truncated('a four byte integer')
    this.pos = p + 4
    return this.buf.readUInt32BE(p)
  }

  /** Variable Byte Integer, at most 4 bytes, minimally encoded [MQTT-1.5.5-1]. */
  varint (): number {
    let value = 0
    let mul = 1
    for (let i = 0; i < 4; i++) {
      const b = this.u8()
      value += (b & 0x7f) * mul
      if (b < 0x80) {
        if (b === 0 && i > 0) throw this.fail('PACKET_ERR_VARINT', 'expected a minimally encoded variable byte integer, got a trailing zero byte') // [MQTT-1.5.5-1]
        return value
      }
      mul *= 128
    }
    throw this.fail('PACKET_ERR_VARINT', 'expected a variable byte integer of at most 4 bytes, got a 5th byte')
  }

  string (): string {
    const len = this.u16()
    const s = this.pos
    const e = s + len
    if (e > this.end) throw this.truncated(`a string of ${len} bytes`)
    this.pos = e
    return decodeString(this.buf, s, e)
  }

  binary (): Buffer {
    const len = this.u16()
    const s = this.pos
    const e = s + len
    if (e > this.end) throw this.truncated(`binary data of ${len} bytes`)
    this.pos = e
    return this.buf.subarray(s, e)
  }

  messageId (): number {
    const id = this.u16()
    if (id === 0) throw this.fail('PACKET_ERR_PACKET_ID', 'expected a packet identifier 1..65535, got 0') // [MQTT-2.3.1-1] [MQTT-2.2.1-3]
    return id
  }

  /** A topic name: UTF-8 string without wildcards [MQTT-3.3.2-2]. */
  topicName (): string {
    const topic = this.string()
    if (topic.length > 0 && (topic.includes('+') || topic.includes('#'))) {
      throw this.fail('PACKET_ERR_TOPIC_NAME', `expected a topic name without wildcards, got '${topic}'`) // [MQTT-3.3.2-2]
    }
    return topic
  }

  reasonCode (allowed: Uint8Array, what: string): number {
    const code = this.u8()
    if (allowed[code] !== 1) throw this.fail('PACKET_ERR_REASON_CODE', `expected a ${what} reason code, got 0x${code.toString(16)}`)
    return code
  }

  /** One MQTT 5 property section; undefined when it is empty. */
  properties (kind: number): Record<string, unknown> | undefined {
    const len = this.varint()
    if (len === 0) return undefined
    const end = this.pos + len
    if (end > this.end) {
      throw this.fail('PACKET_ERR_PROPERTY_LENGTH', `expected a property length of at most ${this.end - this.pos}, got ${len}`)
    }
    const allowed = ALLOWED_BY_ID[kind] as readonly unknown[]
    const props: Record<string, unknown> = {}
    while (this.pos < end) {
      const id = this.buf[this.pos++] as number
      // Property ids are VBIs; every defined one is a single byte, so a byte >= 0x80 is
      // the start of an undefined id.
      const d = allowed[id & 0x7f] as (typeof ALLOWED_BY_ID)[0][0]
      if (d === undefined || id > 0x7f) {
        this.pos--
        throw this.fail('PACKET_ERR_PROPERTY_NOT_ALLOWED', `expected a property allowed here, got id 0x${id.toString(16)}`) // [MQTT-2.2.2-2]
      }
      let value: unknown
      switch (d.type) {
        case T_BYTE: value = this.u8(); break
        case T_BOOL: value = this.u8(); break
        case T_U16: value = this.u16(); break
        case T_U32: value = this.u32(); break
        case T_VARINT: value = this.varint(); break
        case T_STRING: value = this.string(); break
        case T_BINARY: value = this.binary(); break
        default: {
          // user property: may repeat, order kept (5.0 3.1.2.11.8, 3.3.2.3.7) [MQTT-3.3.2-18]
          if (--this.userLeft < 0) {
            this.pos--
            throw this.fail('PACKET_ERR_PROPERTIES_LIMIT', 'expected fewer user properties, got one more than the limit')
          }
          const at = this.pos
          const k = this.string()
          const v = this.string()
          if ((this.userBytesLeft -= this.pos - at) < 0) {
            throw this.fail('PACKET_ERR_PROPERTIES_LIMIT', 'expected user properties of fewer bytes, got more than the limit')
          }
          if (this.pairs) {
            const list = props.userProperties as UserPropertyPairs | undefined
            if (list === undefined) props.userProperties = [[k, v]]
            else list.push([k, v])
          } else {
            let up = props.userProperties as UserPropertiesObject | undefined
            if (up === undefined) {
              // A null-prototype object, so that a key named "__proto__" is kept as data.
              up = Object.create(null) as UserPropertiesObject
              props.userProperties = up
            }
            const prev = up[k]
            if (prev === undefined) up[k] = v
            else if (typeof prev === 'string') up[k] = [prev, v]
            else prev.push(v)
          }
          if (this.pos > end) throw this.propertyOverrun(end)
          continue
        }
      }
      if (this.pos > end) throw this.propertyOverrun(end)
      if ((d.type === T_BOOL && (value as number) > 1) ||
          (d.rule === V_NONZERO && value === 0) ||
          (d.rule === V_ZERO_ONE && (value as number) > 1)) {
        if (id === 0x23) throw this.fail('PACKET_ERR_TOPIC_ALIAS', 'expected a topic alias 1..65535, got 0') // [MQTT-3.3.2-8]
        throw this.fail('PACKET_ERR_PROPERTY_VALUE', `expected a valid ${d.name}, got ${String(value)}`)
      }
      if (d.type === T_BOOL) value = value === 1
      const prev = props[d.name]
      if (prev === undefined) {
        props[d.name] = value
      } else if (kind === K_PUBLISH && id === 0x0B) {
        // A PUBLISH to a subscriber may carry several subscription identifiers (3.3.2.3.8).
        if (Array.isArray(prev)) prev.push(value)
        else props[d.name] = [prev, value]
      } else {
        throw this.fail('PACKET_ERR_PROPERTY_DUPLICATE', `expected ${d.name} at most once, got it twice`) // 2.2.2.2
      }
    }
    return props
  }

  propertyOverrun (end: number): PacketError {
    return this.fail('PACKET_ERR_PROPERTY_LENGTH', `expected the last property to end at the property length, it ends ${this.pos - end} bytes later`)
  }

  // ── packets ────────────────────────────────────────────────────────────────

  publish (header: number): PublishPacket {
    const qos = ((header >> 1) & 3) as QoS
    const topic = this.topicName()
    const packet: PublishPacket = {
      cmd: 'publish',
      qos,
      dup: (header & 8) !== 0,
      retain: (header & 1) !== 0,
      topic,
      payload: EMPTY
    }
    if (qos > 0) packet.messageId = this.messageId()
    if (this.version === 5) {
      const props = this.properties(K_PUBLISH)
      if (props !== undefined) packet.properties = props
      if (topic.length === 0 && props?.topicAlias === undefined) {
        throw this.fail('PACKET_ERR_TOPIC_ALIAS_MISSING', 'expected a topic name or a topic alias, got neither') // 5.0 3.3.2.1: zero-length topic without a topic alias is a Protocol Error
      }
    } else if (topic.length === 0) {
      throw this.fail('PACKET_ERR_TOPIC_NAME', 'expected a topic name of at least one character, got an empty one') // [MQTT-4.7.3-1]
    }
    packet.payload = this.buf.subarray(this.pos, this.end)
    return packet
  }

  ack (type: number): Packet {
    const messageId = this.messageId()
    const cmd = ACK_CMDS[type - 4] as typeof ACK_CMDS[number]
    if (this.version < 5) {
      this.done() // remaining length is exactly 2
      return { cmd, messageId }
    }
    let reasonCode = 0
    let properties: Record<string, unknown> | undefined
    if (this.pos < this.end) {
      reasonCode = this.reasonCode(type < 6 ? PUBACK_V5 : PUBREL_V5, cmd.toUpperCase())
      if (this.pos < this.end) {
        properties = this.properties(K_ACK)
        this.done()
      }
    }
    return properties === undefined ? { cmd, messageId, reasonCode } : { cmd, messageId, reasonCode, properties }
  }

  connect (): ConnectPacket {
    const protocolId = this.string()
    const levelByte = this.u8()
    const level = levelByte & 0x7f
    if (protocolId === 'MQTT') {
      if (level !== 4 && level !== 5) throw this.fail('PACKET_ERR_PROTOCOL_VERSION', `expected protocol level 4 or 5 for 'MQTT', got ${level}`) // [MQTT-3.1.2-2]
    } else if (protocolId === 'MQIsdp') {
      if (level !== 3) throw this.fail('PACKET_ERR_PROTOCOL_VERSION', `expected protocol level 3 for 'MQIsdp', got ${level}`) // [MQTT-3.1.2-2]
    } else {
      throw this.fail('PACKET_ERR_PROTOCOL_NAME', `expected protocol name 'MQTT' or 'MQIsdp', got '${protocolId}'`) // [MQTT-3.1.2-1]
    }
    const version = level as ProtocolVersion
    if (levelByte > 0x7f && version === 5) {
      // The bridge bit is a 3.x extension (Mosquitto, IBM); 0x85 is no protocol level of 5.0.
      throw this.fail('PACKET_ERR_PROTOCOL_VERSION', 'expected protocol level 5, got 0x85 (bridge bit set)') // [MQTT-3.1.2-2]
    }
    this.version = version
    const flags = this.u8()
    if ((flags & 1) !== 0) throw this.fail('PACKET_ERR_CONNECT_FLAGS', 'expected the reserved connect flag 0, got 1') // [MQTT-3.1.2-3]
    const willFlag = (flags & 0x04) !== 0
    const willQos = (flags >> 3) & 3
    const willRetain = (flags & 0x20) !== 0
    const passwordFlag = (flags & 0x40) !== 0
    const usernameFlag = (flags & 0x80) !== 0
    if (!willFlag && (willQos !== 0 || willRetain)) {
      throw this.fail('PACKET_ERR_CONNECT_FLAGS', 'expected will QoS 0 and will retain 0 without the will flag') // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]
    }
    if (willQos === 3) throw this.fail('PACKET_ERR_QOS', 'expected a will QoS 0, 1 or 2, got 3') // [MQTT-3.1.2-14]
    if (version < 5 && passwordFlag && !usernameFlag) {
      throw this.fail('PACKET_ERR_CONNECT_FLAGS', 'expected the user name flag with the password flag') // [MQTT-3.1.2-22]
    }
    const keepalive = this.u16()
    const packet: ConnectPacket = {
      cmd: 'connect',
      protocolId,
      protocolVersion: version,
      clean: (flags & 0x02) !== 0,
      keepalive,
      clientId: ''
    }
    if (levelByte > 0x7f) packet.bridgeMode = true
    if (version === 5) {
      const props = this.properties(K_CONNECT)
      if (props !== undefined) packet.properties = props
    }
    packet.clientId = this.string() // [MQTT-3.1.3-3]
    if (willFlag) {
      const props = version === 5 ? this.properties(K_WILL) : undefined
      const topic = this.topicName()
      if (topic.length === 0) throw this.fail('PACKET_ERR_TOPIC_NAME', 'expected a will topic of at least one character, got an empty one') // [MQTT-4.7.3-1]
      const will: Will = { topic, payload: this.binary(), qos: willQos as QoS, retain: willRetain }
      if (props !== undefined) will.properties = props
      packet.will = will
    }
    if (usernameFlag) packet.username = this.string() // [MQTT-3.1.3-11]
    if (passwordFlag) packet.password = this.binary()
    this.done()
    return packet
  }

  connack (): ConnackPacket {
    const flags = this.u8()
    if ((flags & 0xfe) !== 0) throw this.fail('PACKET_ERR_CONNACK_FLAGS', `expected connect acknowledge flags 0 or 1, got 0x${flags.toString(16)}`) // [MQTT-3.2.2-1]
    const sessionPresent = flags === 1
    let packet: ConnackPacket
    if (this.version < 5) {
      const returnCode = this.reasonCode(CONNACK_V4, 'CONNACK')
      packet = { cmd: 'connack', sessionPresent, returnCode }
    } else {
      const reasonCode = this.reasonCode(CONNACK_V5, 'CONNACK')
      packet = { cmd: 'connack', sessionPresent, reasonCode }
      const props = this.properties(K_CONNACK)
      if (props !== undefined) packet.properties = props
    }
    if (sessionPresent && (packet.returnCode ?? packet.reasonCode) !== 0) {
      throw this.fail('PACKET_ERR_CONNACK_FLAGS', 'expected session present 0 with a non-zero return code') // [MQTT-3.2.2-4] [MQTT-3.2.2-6]
    }
    this.done()
    return packet
  }

  subscribe (): SubscribePacket {
    const messageId = this.messageId()
    const packet: SubscribePacket = { cmd: 'subscribe', messageId, subscriptions: [] }
    const v5 = this.version === 5
    if (v5) {
      const props = this.properties(K_SUBSCRIBE)
      if (props !== undefined) packet.properties = props
    }
    while (this.pos < this.end) {
      const topic = this.string()
      const opts = this.u8()
      const qos = opts & 3
      if (qos === 3) throw this.fail('PACKET_ERR_QOS', `expected a maximum QoS 0, 1 or 2 for '${topic}', got 3`) // [MQTT-3.8.3-4] (3.1.1) 3.8.3.1 (5.0)
      if (!v5) {
        if ((opts & 0xfc) !== 0) throw this.fail('PACKET_ERR_SUBSCRIPTION_OPTIONS', `expected reserved bits 7-2 of the requested QoS 0, got 0x${opts.toString(16)}`) // [MQTT-3.8.3-4]
        packet.subscriptions.push({ topic, qos: qos as QoS })
        continue
      }
      if ((opts & 0xc0) !== 0) throw this.fail('PACKET_ERR_SUBSCRIPTION_OPTIONS', `expected reserved bits 7-6 of the subscription options 0, got 0x${opts.toString(16)}`) // [MQTT-3.8.3-5]
      const rh = (opts >> 4) & 3
      if (rh === 3) throw this.fail('PACKET_ERR_SUBSCRIPTION_PROTOCOL', 'expected retain handling 0, 1 or 2, got 3') // 3.8.3.1
      const nl = (opts & 4) !== 0
      if (nl && topic.startsWith('$share/')) throw this.fail('PACKET_ERR_SUBSCRIPTION_PROTOCOL', `expected no-local 0 on shared subscription '${topic}'`) // [MQTT-3.8.3-4]
      const sub: Subscription = { topic, qos: qos as QoS, nl, rap: (opts & 8) !== 0, rh: rh as 0 | 1 | 2 }
      packet.subscriptions.push(sub)
    }
    if (packet.subscriptions.length === 0) throw this.fail('PACKET_ERR_EMPTY_PAYLOAD', 'expected at least one topic filter in SUBSCRIBE, got none') // [MQTT-3.8.3-3] (3.1.1) [MQTT-3.8.3-2] (5.0)
    return packet
  }

  suback (): SubackPacket {
    const messageId = this.messageId()
    const packet: SubackPacket = { cmd: 'suback', messageId, granted: [] }
    let allowed = SUBACK_V4
    if (this.version === 5) {
      allowed = SUBACK_V5
      const props = this.properties(K_SUBACK)
      if (props !== undefined) packet.properties = props
    }
    while (this.pos < this.end) packet.granted.push(this.reasonCode(allowed, 'SUBACK')) // [MQTT-3.9.3-2]
    if (packet.granted.length === 0) throw this.fail('PACKET_ERR_EMPTY_PAYLOAD', 'expected at least one return code in SUBACK, got none')
    return packet
  }

  unsubscribe (): UnsubscribePacket {
    const messageId = this.messageId()
    const packet: UnsubscribePacket = { cmd: 'unsubscribe', messageId, unsubscriptions: [] }
    if (this.version === 5) {
      const props = this.properties(K_UNSUBSCRIBE)
      if (props !== undefined) packet.properties = props
    }
    while (this.pos < this.end) packet.unsubscriptions.push(this.string())
    if (packet.unsubscriptions.length === 0) throw this.fail('PACKET_ERR_EMPTY_PAYLOAD', 'expected at least one topic filter in UNSUBSCRIBE, got none') // [MQTT-3.10.3-2]
    return packet
  }

  unsuback (): UnsubackPacket {
    const messageId = this.messageId()
    if (this.version < 5) {
      this.done() // remaining length is exactly 2
      return { cmd: 'unsuback', messageId }
    }
    const packet: UnsubackPacket = { cmd: 'unsuback', messageId, granted: [] }
    const props = this.properties(K_UNSUBACK)
    if (props !== undefined) packet.properties = props
    const granted = packet.granted as number[]
    while (this.pos < this.end) granted.push(this.reasonCode(UNSUBACK_V5, 'UNSUBACK'))
    if (granted.length === 0) throw this.fail('PACKET_ERR_EMPTY_PAYLOAD', 'expected at least one reason code in UNSUBACK, got none') // 3.11.3
    return packet
  }

  disconnect (): DisconnectPacket {
    const packet: DisconnectPacket = { cmd: 'disconnect' }
    if (this.version < 5) {
      this.done() // remaining length is 0 [MQTT-3.14.1-1]
      return packet
    }
    packet.reasonCode = 0 // 3.14.2.1: absent means 0x00 Normal disconnection
    if (this.pos < this.end) {
      packet.reasonCode = this.reasonCode(DISCONNECT_V5, 'DISCONNECT')
      if (this.pos < this.end) {
        const props = this.properties(K_DISCONNECT)
        if (props !== undefined) packet.properties = props
        this.done()
      }
    }
    return packet
  }

  auth (): AuthPacket {
    const packet: AuthPacket = { cmd: 'auth', reasonCode: 0 } // 3.15.2.1: absent means 0x00 Success
    if (this.pos < this.end) {
      packet.reasonCode = this.reasonCode(AUTH_V5, 'AUTH')
      const props = this.properties(K_AUTH)
      if (props !== undefined) packet.properties = props
      this.done()
    }
    return packet
  }
}
