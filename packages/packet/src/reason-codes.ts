/**
 * Which return / reason codes each packet type may carry (MQTT 3.1.1 3.2.2.3, 3.9.3;
 * MQTT 5.0 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
 * Tables are 256-entry lookups built once at load.
 */

function table (codes: readonly number[]): Uint8Array {
  const t = new Uint8Array(256)
  for (const c of codes) t[c] = 1
  return t
}

/** CONNACK return codes of 3.1 / 3.1.1. */
export const CONNACK_V4 = table([0, 1, 2, 3, 4, 5])
export const CONNACK_V5 = table([0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F])
/** PUBACK and PUBREC. */
export const PUBACK_V5 = table([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99])
/** PUBREL and PUBCOMP. */
export const PUBREL_V5 = table([0x00, 0x92])
export const SUBACK_V4 = table([0, 1, 2, 0x80])
export const SUBACK_V5 = table([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2])
export const UNSUBACK_V5 = table([0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91])
export const DISCONNECT_V5 = table([0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2])
export const AUTH_V5 = table([0x00, 0x18, 0x19])

/**
 * Required fixed-header flags per packet type, -1 where any value is allowed (PUBLISH,
 * checked separately). [MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1), [MQTT-2.1.3-1] (5.0).
 */
export const HEADER_FLAGS: readonly number[] = [
  -2, // 0 reserved: never valid
  0, // CONNECT
  0, // CONNACK
  -1, // PUBLISH
  0, // PUBACK
  0, // PUBREC
  2, // PUBREL
  0, // PUBCOMP
  2, // SUBSCRIBE
  0, // SUBACK
  2, // UNSUBSCRIBE
  0, // UNSUBACK
  0, // PINGREQ
  0, // PINGRESP
  0, // DISCONNECT
  0 // AUTH
]

export const CMD_NAMES = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'] as const
