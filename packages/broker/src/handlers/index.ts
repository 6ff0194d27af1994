/**
 * Packet dispatch: one handler module per packet type, chosen by a `switch` on `cmd`.
 * A handler returns nothing when it finished synchronously, or a promise when it waits
 * (hooks, store); the connection holds later packets until it settles.
 */
import type { Packet } from '@culex/packet'
import { State } from '../connection.ts'
import { handleAuth } from './auth.ts'
import { handleConnect } from './connect.ts'
import { handleDisconnect } from './disconnect.ts'
import { handlePingreq } from './pingreq.ts'
import { handlePuback } from './puback.ts'
import { handlePubcomp } from './pubcomp.ts'
import { handlePublish } from './publish.ts'
import { handlePubrec } from './pubrec.ts'
import { handlePubrel } from './pubrel.ts'
import { handleSubscribe } from './subscribe.ts'
import { handleUnsubscribe } from './unsubscribe.ts'
import type { ConnectionPort } from './ports.ts'

const WILDCARD = /[+#]/

/** Route one packet to its handler. */
export function dispatch (c: ConnectionPort, packet: Packet): void | Promise<void> {
  c.broker.stats.messagesReceived++
  if (packet.cmd === 'connect') return handleConnect(c, packet)
  if (c.state === State.NEW) {
    // the first packet must be CONNECT [MQTT-3.1.0-1]: close without answering
    c.error('BROKER_ERR_CONNECT_FIRST', `expected CONNECT first, got ${packet.cmd.toUpperCase()}`)
    c.teardown(true)
    return
  }
  if (c.state === State.AUTHENTICATING) {
    if (packet.cmd === 'auth') return handleAuth(c, packet)
    c.error('BROKER_ERR_PROTOCOL', `expected AUTH during enhanced authentication, got ${packet.cmd.toUpperCase()}`)
    c.teardown(true)
    return
  }
  if (c.state !== State.CONNECTED) return
  switch (packet.cmd) {
    case 'publish': {
      const props = packet.properties
      if (props !== undefined) {
        // a client must not send a Subscription Identifier [MQTT-3.3.4-6]; a Response Topic is a topic name [MQTT-3.3.2-14]
        const bad = props.subscriptionIdentifier !== undefined
          ? 'a Subscription Identifier'
          : props.responseTopic !== undefined && WILDCARD.test(props.responseTopic) ? 'a Response Topic with wildcards' : null
        if (bad !== null) {
          c.error('BROKER_ERR_PROTOCOL', `PUBLISH from a client with ${bad}`)
          c.disconnect(0x82, `PUBLISH with ${bad}`)
          return
        }
      }
      return handlePublish(c, packet)
    }
    case 'puback': return handlePuback(c, packet)
    case 'pubrec': return handlePubrec(c, packet)
    case 'pubrel': return handlePubrel(c, packet)
    case 'pubcomp': return handlePubcomp(c, packet)
    case 'subscribe': return handleSubscribe(c, packet)
    case 'unsubscribe': return handleUnsubscribe(c, packet)
    case 'pingreq': return handlePingreq(c)
    case 'disconnect': return handleDisconnect(c, packet)
    case 'auth': return handleAuth(c, packet)
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP only flow from server to client
      c.error('BROKER_ERR_PROTOCOL', `a client must not send ${packet.cmd.toUpperCase()}`)
      c.disconnect(0x82, `unexpected ${packet.cmd.toUpperCase()}`)
  }
}
