import type { PubcompPacket } from '@culex/packet'
import type { ConnectionPort } from './ports.ts'

/** PUBCOMP: a QoS 2 delivery is done. */
export function handlePubcomp (c: ConnectionPort, p: PubcompPacket): void {
  c.onPubcomp(p.messageId)
}
