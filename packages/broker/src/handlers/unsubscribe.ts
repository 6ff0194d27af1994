/**
 * UNSUBSCRIBE: remove each filter and answer UNSUBACK (5.0: 0x00 or 0x11 No subscription
 * existed per filter) [MQTT-3.10.4-4] [MQTT-3.10.4-5].
 */
import type { UnsubscribePacket } from '@culex/packet'
import type { ConnectionPort } from './ports.ts'

/** UNSUBSCRIBE handler. */
export function handleUnsubscribe (c: ConnectionPort, p: UnsubscribePacket): void | Promise<void> {
  const broker = c.broker
  const s = c.session!
  const codes: number[] = []
  for (const topic of p.unsubscriptions) codes.push(c.engine.router.remove(s, topic) ? 0x00 : 0x11)
  const done = (): void => {
    if (c.isClosed) return
    if (c.protocolVersion === 5) c.writePacket({ cmd: 'unsuback', messageId: p.messageId, granted: codes })
    else c.writePacket({ cmd: 'unsuback', messageId: p.messageId })
    if (broker.listenerCount('unsubscribe') > 0) broker.emit('unsubscribe', p.unsubscriptions, c)
  }
  if (!s.persistent) {
    done()
    return
  }
  return broker.store.removeSubscriptions(s.clientId, p.unsubscriptions).then(done)
}
