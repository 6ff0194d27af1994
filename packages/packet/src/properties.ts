/**
 * MQTT 5 properties (spec 2.2.2): the identifier table, which packet allows which
 * identifier, and the value rules. Decoding and encoding of property sections live in
 * decoder.ts / encoder.ts; this module only holds the tables, built once at load.
 */

/** Wire types of property values. */
export const T_BYTE = 0
export const T_BOOL = 1
export const T_U16 = 2
export const T_U32 = 3
export const T_VARINT = 4
export const T_STRING = 5
export const T_BINARY = 6
export const T_PAIR = 7

/** Value rule beyond the wire type. */
export const V_ANY = 0
/** Must not be 0. */
export const V_NONZERO = 1
/** 0 or 1 (maximumQoS). */
export const V_ZERO_ONE = 2

export interface PropertyDef {
  readonly id: number
  readonly name: string
  readonly type: number
  readonly rule: number
}

const def = (id: number, name: string, type: number, rule = V_ANY): PropertyDef => ({ id, name, type, rule })

/** Every property of MQTT 5.0, spec table 2-4. */
export const PROPERTIES: readonly PropertyDef[] = [
  def(0x01, 'payloadFormatIndicator', T_BOOL),
  def(0x02, 'messageExpiryInterval', T_U32),
  def(0x03, 'contentType', T_STRING),
  def(0x08, 'responseTopic', T_STRING),
  def(0x09, 'correlationData', T_BINARY),
  def(0x0B, 'subscriptionIdentifier', T_VARINT, V_NONZERO), // 5.0 3.8.2.1.2: the value 0 is a Protocol Error
  def(0x11, 'sessionExpiryInterval', T_U32),
  def(0x12, 'assignedClientIdentifier', T_STRING),
  def(0x13, 'serverKeepAlive', T_U16),
  def(0x15, 'authenticationMethod', T_STRING),
  def(0x16, 'authenticationData', T_BINARY),
  def(0x17, 'requestProblemInformation', T_BOOL),
  def(0x18, 'willDelayInterval', T_U32),
  def(0x19, 'requestResponseInformation', T_BOOL),
  def(0x1A, 'responseInformation', T_STRING),
  def(0x1C, 'serverReference', T_STRING),
  def(0x1F, 'reasonString', T_STRING),
  def(0x21, 'receiveMaximum', T_U16, V_NONZERO), // 3.1.2.11.3 / 3.2.2.3.3: 0 is a protocol error
  def(0x22, 'topicAliasMaximum', T_U16),
  def(0x23, 'topicAlias', T_U16, V_NONZERO), // [MQTT-3.3.2-8] 0 is a protocol error
  def(0x24, 'maximumQoS', T_BYTE, V_ZERO_ONE), // 3.2.2.3.4: only 0 or 1
  def(0x25, 'retainAvailable', T_BOOL),
  def(0x26, 'userProperties', T_PAIR),
  def(0x27, 'maximumPacketSize', T_U32, V_NONZERO), // 3.1.2.11.4: 0 is a protocol error
  def(0x28, 'wildcardSubscriptionAvailable', T_BOOL),
  def(0x29, 'subscriptionIdentifiersAvailable', T_BOOL),
  def(0x2A, 'sharedSubscriptionAvailable', T_BOOL)
]

/** Where a property section occurs. */
export const K_CONNECT = 0
export const K_WILL = 1
export const K_CONNACK = 2
export const K_PUBLISH = 3
export const K_ACK = 4 // PUBACK, PUBREC, PUBREL, PUBCOMP
export const K_SUBSCRIBE = 5
export const K_SUBACK = 6
export const K_UNSUBSCRIBE = 7
export const K_UNSUBACK = 8
export const K_DISCONNECT = 9
export const K_AUTH = 10

const ALLOWED_NAMES: readonly (readonly string[])[] = [
  /* CONNECT */ ['sessionExpiryInterval', 'receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum', 'requestResponseInformation', 'requestProblemInformation', 'userProperties', 'authenticationMethod', 'authenticationData'],
  /* will */ ['willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties'],
  /* CONNACK */ ['sessionExpiryInterval', 'receiveMaximum', 'maximumQoS', 'retainAvailable', 'maximumPacketSize', 'assignedClientIdentifier', 'topicAliasMaximum', 'reasonString', 'userProperties', 'wildcardSubscriptionAvailable', 'subscriptionIdentifiersAvailable', 'sharedSubscriptionAvailable', 'serverKeepAlive', 'responseInformation', 'serverReference', 'authenticationMethod', 'authenticationData'],
  /* PUBLISH */ ['payloadFormatIndicator', 'messageExpiryInterval', 'topicAlias', 'responseTopic', 'correlationData', 'userProperties', 'subscriptionIdentifier', 'contentType'],
  /* acks */ ['reasonString', 'userProperties'],
  /* SUBSCRIBE */ ['subscriptionIdentifier', 'userProperties'],
  /* SUBACK */ ['reasonString', 'userProperties'],
  /* UNSUBSCRIBE */ ['userProperties'],
  /* UNSUBACK */ ['reasonString', 'userProperties'],
  /* DISCONNECT */ ['sessionExpiryInterval', 'reasonString', 'userProperties', 'serverReference'],
  /* AUTH */ ['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties']
]

const BY_NAME = new Map(PROPERTIES.map(p => [p.name, p]))

/**
 * ALLOWED_BY_ID[kind][id] is the definition when `id` may appear in that section,
 * else undefined. Arrays of 128 (ids are single-byte VBIs in practice).
 */
export const ALLOWED_BY_ID: readonly (readonly (PropertyDef | undefined)[])[] = ALLOWED_NAMES.map(names => {
  const table: (PropertyDef | undefined)[] = new Array(128).fill(undefined)
  for (const n of names) {
    const d = BY_NAME.get(n) as PropertyDef
    table[d.id] = d
  }
  return table
})

/** ALLOWED_LIST[kind]: the definitions allowed in that section, in spec order, for the encoder. */
export const ALLOWED_LIST: readonly (readonly PropertyDef[])[] = ALLOWED_NAMES.map(names =>
  PROPERTIES.filter(p => names.includes(p.name)))
