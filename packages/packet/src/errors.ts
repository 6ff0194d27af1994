/**
 * Errors of @culex/packet.
 *
 * Every failure has a stable `code` (public API: codes are deprecated, never renamed) and,
 * for parse errors, the MQTT 5 `reasonCode` a broker should answer with (in a CONNACK
 * during the handshake, in a DISCONNECT after it). Encoder errors carry no reason code:
 * they describe a programming error on the sending side, not a peer's fault.
 */
import { defineErrors, registryFrom } from '@culex/errors'

/** MQTT 5 reason codes used by parse errors. */
export const ReasonCode = {
  malformedPacket: 0x81,
  protocolError: 0x82,
  unsupportedProtocolVersion: 0x84,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95
} as const

/**
 * Every error code this package can raise, with the MQTT 5 reason code it maps to
 * (`undefined` for encoder errors).
 */
export const PacketErrorCodes = {
  // ── parser ────────────────────────────────────────────────────────────────
  /** Packet type 0, or AUTH (15) on a 3.1 / 3.1.1 connection. */
  PACKET_ERR_PACKET_TYPE: 0x81,
  /** Reserved bits of the fixed header's flags are not the value the spec requires. */
  PACKET_ERR_HEADER_FLAGS: 0x81,
  /** A Variable Byte Integer (remaining length, property length, …) is longer than 4 bytes or not minimally encoded. */
  PACKET_ERR_VARINT: 0x81,
  /** The packet is larger than the parser's `maxPacketSize`. */
  PACKET_ERR_PACKET_TOO_LARGE: 0x95,
  /** The first packet is not a CONNECT (Parser option `connectFirst`), detected at its first byte. */
  PACKET_ERR_CONNECT_EXPECTED: 0x82,
  /** More user properties (count or bytes) than the parser's `maxUserProperties` / `maxUserPropertyBytes`. */
  PACKET_ERR_PROPERTIES_LIMIT: 0x95,
  /** A Topic Alias property of 0 [MQTT-3.3.2-8]. */
  PACKET_ERR_TOPIC_ALIAS: 0x94,
  /** A field runs past the end of the packet (remaining length too short). */
  PACKET_ERR_TRUNCATED: 0x81,
  /** Bytes are left over after the last field of the packet (remaining length too long). */
  PACKET_ERR_TRAILING_BYTES: 0x81,
  /** QoS 3 in a PUBLISH, a will or a subscription. */
  PACKET_ERR_QOS: 0x81,
  /** DUP set on a QoS 0 PUBLISH. */
  PACKET_ERR_DUP_QOS0: 0x81,
  /** A UTF-8 string is not well-formed UTF-8. */
  PACKET_ERR_UTF8: 0x81,
  /** A UTF-8 string contains U+0000. */
  PACKET_ERR_NULL_CHARACTER: 0x81,
  /** A PUBLISH or will topic name contains `+` or `#`, or is empty where it must not be. */
  PACKET_ERR_TOPIC_NAME: 0x81,
  /** MQTT 5 PUBLISH with an empty topic name and no topic alias. */
  PACKET_ERR_TOPIC_ALIAS_MISSING: 0x82,
  /** A packet identifier is 0 where a non-zero one is required. */
  PACKET_ERR_PACKET_ID: 0x82,
  /** A property identifier is unknown or not allowed on this packet. */
  PACKET_ERR_PROPERTY_NOT_ALLOWED: 0x81,
  /** A property that may appear once appears twice. */
  PACKET_ERR_PROPERTY_DUPLICATE: 0x82,
  /** A property has a value the spec forbids (e.g. receiveMaximum 0, a boolean that is not 0/1). */
  PACKET_ERR_PROPERTY_VALUE: 0x82,
  /** The property length runs past the packet, or a property runs past the property length. */
  PACKET_ERR_PROPERTY_LENGTH: 0x81,
  /** CONNECT protocol name is not 'MQTT' (level 4, 5) or 'MQIsdp' (level 3). */
  PACKET_ERR_PROTOCOL_NAME: 0x84,
  /** CONNECT protocol level is not 3, 4 or 5. */
  PACKET_ERR_PROTOCOL_VERSION: 0x84,
  /** CONNECT flags break a rule: reserved bit set, will QoS/retain without will, password without username (3.x). */
  PACKET_ERR_CONNECT_FLAGS: 0x81,
  /** CONNACK acknowledge flags have reserved bits set, or session present with a failure code. */
  PACKET_ERR_CONNACK_FLAGS: 0x81,
  /** A return code or reason code not defined for this packet type. */
  PACKET_ERR_REASON_CODE: 0x81,
  /** Reserved bits of SUBSCRIBE subscription options are set. */
  PACKET_ERR_SUBSCRIPTION_OPTIONS: 0x81,
  /** MQTT 5 retain handling 3, or no-local on a shared subscription. */
  PACKET_ERR_SUBSCRIPTION_PROTOCOL: 0x82,
  /** SUBSCRIBE / UNSUBSCRIBE / SUBACK / UNSUBACK (5.0) without any entry. */
  PACKET_ERR_EMPTY_PAYLOAD: 0x82,
  // ── encoder ───────────────────────────────────────────────────────────────
  /** The packet object cannot be encoded: unknown cmd, missing or invalid field. */
  PACKET_ERR_ENCODE_INVALID: undefined,
  /** A string is longer than 65535 UTF-8 bytes, has a lone surrogate or contains U+0000. */
  PACKET_ERR_ENCODE_STRING: undefined,
  /** Binary data (password, will payload, correlation/authentication data) is longer than 65535 bytes. */
  PACKET_ERR_ENCODE_BINARY: undefined,
  /** A number is out of range: packet id not 1..65535, varint over 268435455, u16/u32 overflow. */
  PACKET_ERR_ENCODE_RANGE: undefined,
  /** The packet would be larger than 268435460 bytes (remaining length over 268435455). */
  PACKET_ERR_ENCODE_TOO_LARGE: undefined
} as const

/** A stable error code. */
export type PacketErrorCode = keyof typeof PacketErrorCodes

/**
 * The one error class of @culex/packet. Check `code`, not the message. `instanceof` also
 * holds for a `PacketError` of another installed copy of this package.
 *
 * `new PacketError(code, message, { reasonCode?, cause? })`: `reasonCode` overrides the code's
 * default from {@link PacketErrorCodes}; `cause` is kept as `err.cause`.
 */
export class PacketError extends defineErrors('PacketError', registryFrom(PacketErrorCodes)) {}

/**
 * True for a {@link PacketError}, also one created by another installed copy of this package.
 * @example
 * if (isPacketError(err)) console.log(err.code, err.reasonCode)
 */
export function isPacketError (err: unknown): err is PacketError {
  return err instanceof PacketError
}
