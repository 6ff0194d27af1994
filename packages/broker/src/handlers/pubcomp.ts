import type { PubcompPacket } from '@culex/packet'
import type { Connection } from '../connection.ts'

/** PUBCOMP: a QoS 2 delivery is done. */
export function handlePubcomp (c: Connection, p: PubcompPacket): void {
  c.onPubcomp(p.messageId)
}
