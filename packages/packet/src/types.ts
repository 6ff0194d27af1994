/**
 * Packet objects: the shapes `Parser` delivers and `encode` accepts.
 *
 * They follow mqtt-packet's shapes (`cmd`, `messageId`, `qos`, `dup`, `retain`, `topic`,
 * `payload`, `properties`, `reasonCode`, `subscriptions`, `granted`, …) so that code written
 * for mqtt-packet keeps working, and so that mqtt-packet can serve as a differential oracle.
 * Each packet type is one member of the `Packet` union, discriminated by `cmd`.
 *
 * Optional fields are omitted (never set to `undefined`) by the parser; the encoder accepts
 * both. Buffers the parser returns (PUBLISH `payload`, binary properties, passwords) are
 * views into the chunk given to `Parser.parse`: they stay valid as long as the caller does not
 * reuse or overwrite that chunk. Copy them to keep them longer than that.
 */

/** Protocol levels: 3 = MQTT 3.1 ("MQIsdp"), 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5

/** Quality of service level: 0 at most once, 1 at least once, 2 exactly once. */
export type QoS = 0 | 1 | 2

/** Packet type numbers of the fixed header (first byte >> 4). */
export const PacketType = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15
} as const

/** The `cmd` names: 'connect' … 'auth'. */
export type PacketCmd = keyof typeof PacketType

/**
 * User properties in wire order: one `[name, value]` pair per property, names may repeat.
 * The parser delivers this form with the option `userProperties: 'pairs'`; it keeps the
 * order the spec requires a broker to forward [MQTT-3.3.2-17] [MQTT-3.3.2-18].
 */
export type UserPropertyPairs = Array<[string, string]>

/**
 * mqtt-packet's form, the parser's default: a repeated name holds an array of its values in
 * order. Being a JavaScript object, it cannot keep the order *across* names: integer-like
 * names ("1", "10") come first, and the values of a repeated name are grouped together.
 */
export type UserPropertiesObject = Record<string, string | string[]>

/** Either form; `encode` accepts both and writes pairs in array order. */
export type UserProperties = UserPropertiesObject | UserPropertyPairs

/** MQTT 5 properties of CONNECT. */
export interface ConnectProperties {
  sessionExpiryInterval?: number
  receiveMaximum?: number
  maximumPacketSize?: number
  topicAliasMaximum?: number
  requestResponseInformation?: boolean
  requestProblemInformation?: boolean
  userProperties?: UserProperties
  authenticationMethod?: string
  authenticationData?: Buffer
}

/** MQTT 5 properties of the will message inside CONNECT. */
export interface WillProperties {
  willDelayInterval?: number
  payloadFormatIndicator?: boolean
  messageExpiryInterval?: number
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: UserProperties
}

/** The will message of a CONNECT (published by the server when the connection ends badly). */
export interface Will {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  properties?: WillProperties
}

/** CONNECT: the first packet a client sends. */
export interface ConnectPacket {
  cmd: 'connect'
  /** 'MQTT' for 3.1.1 and 5.0, 'MQIsdp' for 3.1. */
  protocolId: 'MQTT' | 'MQIsdp'
  protocolVersion: ProtocolVersion
  /** Set when the CONNECT carried the bridge bit (0x80) in the protocol level byte. */
  bridgeMode?: boolean
  /** MQTT 3.x clean session / MQTT 5 clean start. */
  clean: boolean
  /** Seconds; 0 disables keepalive. */
  keepalive: number
  clientId: string
  will?: Will
  username?: string
  password?: Buffer
  properties?: ConnectProperties
}

/** MQTT 5 properties of CONNACK. */
export interface ConnackProperties {
  sessionExpiryInterval?: number
  receiveMaximum?: number
  maximumQoS?: 0 | 1
  retainAvailable?: boolean
  maximumPacketSize?: number
  assignedClientIdentifier?: string
  topicAliasMaximum?: number
  reasonString?: string
  userProperties?: UserProperties
  wildcardSubscriptionAvailable?: boolean
  subscriptionIdentifiersAvailable?: boolean
  sharedSubscriptionAvailable?: boolean
  serverKeepAlive?: number
  responseInformation?: string
  serverReference?: string
  authenticationMethod?: string
  authenticationData?: Buffer
}

/** CONNACK: the server's answer to CONNECT. */
export interface ConnackPacket {
  cmd: 'connack'
  sessionPresent: boolean
  /** MQTT 3.x connect return code (0..5). Set for protocol versions 3 and 4. */
  returnCode?: number
  /** MQTT 5 reason code. Set for protocol version 5. */
  reasonCode?: number
  properties?: ConnackProperties
}

/** MQTT 5 properties of PUBLISH. */
export interface PublishProperties {
  payloadFormatIndicator?: boolean
  messageExpiryInterval?: number
  topicAlias?: number
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: UserProperties
  /** A PUBLISH from the server may carry several subscription identifiers. */
  subscriptionIdentifier?: number | number[]
  contentType?: string
}

/** PUBLISH: an application message. `payload` is a view into the parsed chunk (see the module note). */
export interface PublishPacket {
  cmd: 'publish'
  qos: QoS
  dup: boolean
  retain: boolean
  /** May be '' in MQTT 5 when a topic alias is given. */
  topic: string
  payload: Buffer
  /** Present for QoS 1 and 2 only. */
  messageId?: number
  properties?: PublishProperties
}

/** Properties shared by PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK. */
export interface AckProperties {
  reasonString?: string
  userProperties?: UserProperties
}

/** PUBACK: acknowledges a QoS 1 PUBLISH. `reasonCode` is set by the 5.0 parser. */
export interface PubackPacket { cmd: 'puback', messageId: number, reasonCode?: number, properties?: AckProperties }
/** PUBREC: first answer to a QoS 2 PUBLISH. */
export interface PubrecPacket { cmd: 'pubrec', messageId: number, reasonCode?: number, properties?: AckProperties }
/** PUBREL: answer to PUBREC. */
export interface PubrelPacket { cmd: 'pubrel', messageId: number, reasonCode?: number, properties?: AckProperties }
/** PUBCOMP: answer to PUBREL, ends a QoS 2 exchange. */
export interface PubcompPacket { cmd: 'pubcomp', messageId: number, reasonCode?: number, properties?: AckProperties }

/** One topic filter of a SUBSCRIBE with its options. */
export interface Subscription {
  topic: string
  qos: QoS
  /** MQTT 5 subscription options; the parser sets them for version 5 only. */
  nl?: boolean
  rap?: boolean
  rh?: 0 | 1 | 2
}

/** MQTT 5 properties of SUBSCRIBE. */
export interface SubscribeProperties {
  subscriptionIdentifier?: number
  userProperties?: UserProperties
}

/** SUBSCRIBE: one or more topic filters. */
export interface SubscribePacket {
  cmd: 'subscribe'
  messageId: number
  subscriptions: Subscription[]
  properties?: SubscribeProperties
}

/** SUBACK: the answer to SUBSCRIBE. */
export interface SubackPacket {
  cmd: 'suback'
  messageId: number
  /** Granted QoS (0..2) or failure/reason codes (0x80 and above), one per subscription. */
  granted: number[]
  properties?: AckProperties
}

/** UNSUBSCRIBE: one or more topic filters to remove. */
export interface UnsubscribePacket {
  cmd: 'unsubscribe'
  messageId: number
  unsubscriptions: string[]
  properties?: { userProperties?: UserProperties }
}

/** UNSUBACK: the answer to UNSUBSCRIBE. */
export interface UnsubackPacket {
  cmd: 'unsuback'
  messageId: number
  /** MQTT 5 only: one reason code per topic filter. */
  granted?: number[]
  properties?: AckProperties
}

/** PINGREQ: keepalive from the client. */
export interface PingreqPacket { cmd: 'pingreq' }
/** PINGRESP: answer to PINGREQ. */
export interface PingrespPacket { cmd: 'pingresp' }

/** MQTT 5 properties of DISCONNECT. */
export interface DisconnectProperties {
  sessionExpiryInterval?: number
  reasonString?: string
  userProperties?: UserProperties
  serverReference?: string
}

/** DISCONNECT: orderly end of a connection (from either side in 5.0). */
export interface DisconnectPacket {
  cmd: 'disconnect'
  /** MQTT 5 only; omitted means 0x00 Normal disconnection. */
  reasonCode?: number
  properties?: DisconnectProperties
}

/** MQTT 5 properties of AUTH. */
export interface AuthProperties {
  authenticationMethod?: string
  authenticationData?: Buffer
  reasonString?: string
  userProperties?: UserProperties
}

/** AUTH (5.0 only): enhanced authentication exchange. */
export interface AuthPacket {
  cmd: 'auth'
  /** 0x00 success, 0x18 continue authentication, 0x19 re-authenticate. */
  reasonCode?: number
  properties?: AuthProperties
}

/** Every MQTT control packet, discriminated by `cmd`. */
export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket

/** The packet type for a given `cmd`. */
export type PacketOf<C extends PacketCmd> = Extract<Packet, { cmd: C }>
