import type { PubrecPacket } from '@culex/packet'
import type { Connection } from '../connection.ts'

/** PUBREC: answer PUBREL for a QoS 2 delivery [MQTT-4.3.3-4]; a failure code ends it. */
export function handlePubrec (c: Connection, p: PubrecPacket): void {
  c.onPubrec(p.messageId, p.reasonCode ?? 0)
}
