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

export type PacketCmd = keyof typeof PacketType

/** A user property value may repeat under one key; repeated values keep their order. */
export type UserProperties = Record<string, string | string[]>

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

export interface Will {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  properties?: WillProperties
}

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

export interface ConnackPacket {
  cmd: 'connack'
  sessionPresent: boolean
  /** MQTT 3.x connect return code (0..5). Set for protocol versions 3 and 4. */
  returnCode?: number
  /** MQTT 5 reason code. Set for protocol version 5. */
  reasonCode?: number
  properties?: ConnackProperties
}

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

export interface PubackPacket { cmd: 'puback', messageId: number, reasonCode?: number, properties?: AckProperties }
export interface PubrecPacket { cmd: 'pubrec', messageId: number, reasonCode?: number, properties?: AckProperties }
export interface PubrelPacket { cmd: 'pubrel', messageId: number, reasonCode?: number, properties?: AckProperties }
export interface PubcompPacket { cmd: 'pubcomp', messageId: number, reasonCode?: number, properties?: AckProperties }

export interface Subscription {
  topic: string
  qos: QoS
  /** MQTT 5 subscription options; the parser sets them for version 5 only. */
  nl?: boolean
  rap?: boolean
  rh?: 0 | 1 | 2
}

export interface SubscribeProperties {
  subscriptionIdentifier?: number
  userProperties?: UserProperties
}

export interface SubscribePacket {
  cmd: 'subscribe'
  messageId: number
  subscriptions: Subscription[]
  properties?: SubscribeProperties
}

export interface SubackPacket {
  cmd: 'suback'
  messageId: number
  /** Granted QoS (0..2) or failure/reason codes (0x80 and above), one per subscription. */
  granted: number[]
  properties?: AckProperties
}

export interface UnsubscribePacket {
  cmd: 'unsubscribe'
  messageId: number
  unsubscriptions: string[]
  properties?: { userProperties?: UserProperties }
}

export interface UnsubackPacket {
  cmd: 'unsuback'
  messageId: number
  /** MQTT 5 only: one reason code per topic filter. */
  granted?: number[]
  properties?: AckProperties
}

export interface PingreqPacket { cmd: 'pingreq' }
export interface PingrespPacket { cmd: 'pingresp' }

export interface DisconnectProperties {
  sessionExpiryInterval?: number
  reasonString?: string
  userProperties?: UserProperties
  serverReference?: string
}

export interface DisconnectPacket {
  cmd: 'disconnect'
  /** MQTT 5 only; omitted means 0x00 Normal disconnection. */
  reasonCode?: number
  properties?: DisconnectProperties
}

export interface AuthProperties {
  authenticationMethod?: string
  authenticationData?: Buffer
  reasonString?: string
  userProperties?: UserProperties
}

export interface AuthPacket {
  cmd: 'auth'
  /** 0x00 success, 0x18 continue authentication, 0x19 re-authenticate. */
  reasonCode?: number
  properties?: AuthProperties
}

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
