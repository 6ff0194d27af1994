/**
 * Packets the broker answers with a Reason String or User Properties (CONNACK, DISCONNECT),
 * fitted to the receiver's Maximum Packet Size: those two properties are left out when the
 * packet would be larger than the receiver accepts with them [MQTT-3.2.2-19] [MQTT-3.2.2-20]
 * [MQTT-3.14.2-3] [MQTT-3.14.2-4] [MQTT-3.1.2-24].
 */
import { encode, type ConnackPacket, type DisconnectPacket } from '@culex/packet'

/** Encode `packet` (5.0) in at most `max` bytes if leaving out the Reason String and User Properties achieves it. */
export function encodeWithin (packet: ConnackPacket | DisconnectPacket, max: number): Buffer {
  const buf = encode(packet, 5)
  const props = packet.properties
  if (buf.length <= max || props === undefined || (props.reasonString === undefined && props.userProperties === undefined)) return buf
  const { reasonString: _r, userProperties: _u, ...rest } = props
  return encode({ ...packet, properties: rest } as ConnackPacket | DisconnectPacket, 5)
}
