import type { PubackPacket } from '@culex/packet'
import type { ConnectionPort } from './ports.ts'

/** PUBACK: a QoS 1 delivery is done; the inflight slot frees up. */
export function handlePuback (c: ConnectionPort, p: PubackPacket): void {
  c.onPuback(p.messageId)
}
