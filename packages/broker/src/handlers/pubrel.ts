import type { PubrelPacket } from '@culex/packet'
import type { ConnectionPort } from './ports.ts'

/**
 * PUBREL of an inbound QoS 2 message: forget its packet id and answer PUBCOMP
 * [MQTT-4.3.3-11]; 5.0 answers an unknown id with 0x92 Packet Identifier not found.
 */
export function handlePubrel (c: ConnectionPort, p: PubrelPacket): void | Promise<void> {
  const s = c.session!
  const id = p.messageId
  const had = s.incoming !== null && s.incoming.delete(id)
  if (had) c.releaseInbound()
  if (had || !s.persistent) {
    if (had && s.persistent) c.broker.store.deleteIncoming(s.clientId, id).catch((err: unknown) => { c.broker.storeError('forgetting a QoS 2 id', err) })
    complete(c, id, had)
    return
  }
  // the id may only be in the store (session restored from an earlier run)
  return c.broker.store.hasIncoming(s.clientId, id).then(async (known) => {
    if (known) await c.broker.store.deleteIncoming(s.clientId, id)
    complete(c, id, known)
  })
}

function complete (c: ConnectionPort, id: number, known: boolean): void {
  if (c.protocolVersion === 5 && !known) c.writePacket({ cmd: 'pubcomp', messageId: id, reasonCode: 0x92 })
  else c.writePacket({ cmd: 'pubcomp', messageId: id })
}
