import type { DisconnectPacket } from '@culex/packet'
import type { ConnectionPort } from './ports.ts'

/**
 * DISCONNECT from the client. Reason 0x04 (5.0) keeps the will; any other normal
 * disconnect discards it [MQTT-3.14.4-3]. 5.0 may change the session expiry interval, but
 * not from 0 to non-zero [MQTT-3.14.2-2].
 */
export function handleDisconnect (c: ConnectionPort, p: DisconnectPacket): void {
  const expiry = p.properties?.sessionExpiryInterval
  if (c.protocolVersion === 5 && expiry !== undefined) {
    // compared with what the client sent, not with what the broker granted (maxSessionExpiryInterval)
    if (c.expiryRequested === 0 && expiry !== 0) {
      c.error('BROKER_ERR_PROTOCOL', 'DISCONNECT sets a session expiry interval after CONNECT had 0')
      c.disconnect(0x82, 'session expiry interval cannot be set after 0')
      return
    }
    // applied to the session as the connection closes (Broker.connectionClosed)
    c.changeExpiry(Math.min(expiry, c.broker.limits.maxSessionExpiryInterval))
  }
  const rc = p.reasonCode ?? 0
  if (!(c.protocolVersion === 5 && rc === 0x04) && c.takeWill() !== null) {
    c.broker.store.deleteWill(c.id).catch((err: unknown) => { c.broker.storeError('deleting a will', err) })
  }
  c.endByClient(rc)
}
