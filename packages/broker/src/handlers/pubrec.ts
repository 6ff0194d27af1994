import type { PubrecPacket } from '@culex/packet'
import type { ConnectionPort } from './ports.ts'

/** PUBREC: answer PUBREL for a QoS 2 delivery [MQTT-4.3.3-4]; a failure code ends it. */
export function handlePubrec (c: ConnectionPort, p: PubrecPacket): void {
  c.onPubrec(p.messageId, p.reasonCode ?? 0)
}
