import type { PubackPacket } from '@culex/packet'
import type { Connection } from '../connection.ts'

/** PUBACK: a QoS 1 delivery is done; the inflight slot frees up. */
export function handlePuback (c: Connection, p: PubackPacket): void {
  c.onPuback(p.messageId)
}
