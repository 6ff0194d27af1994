/**
 * AUTH (MQTT 5 enhanced authentication): continues the exchange a CONNECT started
 * (state AUTHENTICATING), or re-authenticates a connected client (AUTH 0x19) [MQTT-4.12.1].
 */
import type { AuthPacket } from '@culex/packet'
import { State } from '../connection.ts'
import { finishConnect, refuse, type PendingConnect } from './connect.ts'
import type { ConnectionPort } from './ports.ts'

/** AUTH handler. */
export async function handleAuth (c: ConnectionPort, p: AuthPacket): Promise<void> {
  const rc = p.reasonCode ?? 0
  const hook = c.broker.hooks.authenticateEnhanced
  const method = p.properties?.authenticationMethod
  if (hook === undefined || c.authMethod === undefined || method !== c.authMethod) {
    // AUTH without (or with another) method is a protocol error [MQTT-4.12.0-?]
    if (c.state === State.AUTHENTICATING) refuse(c, 0x82, 'AUTH does not continue the CONNECT authentication method')
    else c.disconnect(0x82, 'unexpected AUTH')
    return
  }
  const data = p.properties?.authenticationData
  if (c.state === State.AUTHENTICATING) {
    if (rc !== 0x18) {
      refuse(c, 0x82, `AUTH reason 0x${rc.toString(16)} during authentication`)
      return
    }
    const r = await hook(c, { method, data, step: 'continue' })
    if (c.isClosed) return
    if (r.reasonCode === 0x18) {
      c.writePacket({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, ...(r.data !== undefined ? { authenticationData: r.data } : {}) } })
      return
    }
    if (r.reasonCode !== 0) {
      refuse(c, r.reasonCode, 'enhanced authentication failed', r.reasonString)
      return
    }
    await finishConnect(c, c.authenticated() as PendingConnect, r.data)
    return
  }
  // connected: 0x19 starts re-authentication, 0x18 continues one the broker answered with 0x18
  if (rc !== 0x19 && (rc !== 0x18 || !c.reauthenticating)) {
    c.error('BROKER_ERR_PROTOCOL', `AUTH reason 0x${rc.toString(16)} from a connected client${rc === 0x18 ? ' with no re-authentication in progress' : ''}`)
    c.disconnect(0x82, `AUTH reason 0x${rc.toString(16)} from a connected client`)
    return
  }
  const r = await hook(c, { method, data, step: rc === 0x19 ? 'reauthenticate' : 'continue' })
  if (c.isClosed) return
  if (r.reasonCode === 0x18 || r.reasonCode === 0) {
    c.reauthStep(r.reasonCode === 0x18)
    // re-authenticated: read decisions are made anew for the identity it proved
    if (r.reasonCode === 0 && c.session !== null) {
      c.session.readCache = null
      c.session.identGen++
    }
    c.writePacket({ cmd: 'auth', reasonCode: r.reasonCode, properties: { authenticationMethod: method, ...(r.data !== undefined ? { authenticationData: r.data } : {}) } })
    return
  }
  c.error('BROKER_ERR_NOT_AUTHORIZED', 're-authentication failed', undefined, r.reasonCode)
  c.disconnect(r.reasonCode, r.reasonString ?? 're-authentication failed')
}
