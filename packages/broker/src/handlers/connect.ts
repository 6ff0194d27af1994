/**
 * CONNECT: protocol checks, client id rules, keepalive, hooks (preConnect, authenticate or
 * enhanced authentication), session takeover, clean start / session resume, will, CONNACK
 * with the properties this broker supports, then replay of the stored session.
 */
import type { ConnackProperties, ConnectPacket } from '@culex/packet'
import { State } from '../connection.ts'
import type { AuthResult } from '../options.ts'
import { encodeWithin } from '../within.ts'
import type { ConnectionPort } from './ports.ts'

/** State kept between CONNECT and the end of enhanced authentication. */
export interface PendingConnect {
  packet: ConnectPacket
  assigned: boolean
  serverKeepAlive: number | undefined
}

// 3.x return codes for a 5.0 reason code
function v4Code (rc: number): number {
  switch (rc) {
    case 0x84: return 1
    case 0x85: return 2
    case 0x86: return 4
    case 0x87: case 0x8C: return 5
    case 0x88: case 0x89: case 0x97: return 3
    default: return 5
  }
}

/** Refuse the CONNECT with a CONNACK failure code and close [MQTT-3.2.2-7]. */
export function refuse (c: ConnectionPort, reasonCode: number, message: string, reasonString?: string): void {
  if (c.protocolVersion === 5) {
    c.write(encodeWithin({ cmd: 'connack', sessionPresent: false, reasonCode, ...(reasonString !== undefined ? { properties: { reasonString } } : {}) }, c.maxOut))
  } else {
    c.writePacket({ cmd: 'connack', sessionPresent: false, returnCode: v4Code(reasonCode) }, c.protocolVersion === 3 ? 3 : 4)
  }
  const k = c.engine.counters
  k.connectsRefused++
  if (reasonCode === 0x86 || reasonCode === 0x87) k.authFailures++
  c.error(reasonCode === 0x86 || reasonCode === 0x87 ? 'BROKER_ERR_NOT_AUTHORIZED' : reasonCode === 0x97 || reasonCode === 0x89 ? 'BROKER_ERR_SERVER_BUSY' : 'BROKER_ERR_PROTOCOL', `CONNECT refused (0x${reasonCode.toString(16)}): ${message}`, undefined, reasonCode)
  c.teardown(true)
}

function refusal (r: AuthResult, fallback: number): { code: number, text?: string } | null {
  if (r === true) return null
  if (typeof r === 'object' && 'username' in r) return null
  if (r === false) return { code: fallback }
  return r.reasonString !== undefined ? { code: r.reasonCode, text: r.reasonString } : { code: r.reasonCode }
}

/** CONNECT handler. */
export async function handleConnect (c: ConnectionPort, p: ConnectPacket): Promise<void> {
  if (c.state !== State.NEW) {
    // a second CONNECT is a protocol violation [MQTT-3.1.0-2]
    c.error('BROKER_ERR_SECOND_CONNECT', 'second CONNECT on one connection')
    c.disconnect(0x82, 'second CONNECT')
    return
  }
  c.startConnect(p.protocolVersion, p.protocolVersion === 5 ? p.properties?.maximumPacketSize : undefined)
  const broker = c.broker
  await broker.ready()
  if (c.engine.overCapacity()) {
    refuse(c, 0x97, `maxConnections (${broker.limits.maxConnections}) reached`)
    return
  }
  let assigned = false
  if (p.clientId.length === 0) {
    if (p.protocolVersion === 3) {
      refuse(c, 0x85, 'MQTT 3.1 requires a client id of 1 to 23 characters')
      return
    }
    if (p.protocolVersion === 4 && !p.clean) {
      // [MQTT-3.1.3-8] zero-length id with clean session 0
      refuse(c, 0x85, 'zero-length client id with clean session 0')
      return
    }
    c.identify(broker.assignClientId(), p.username) // [MQTT-3.1.3-6]
    assigned = p.protocolVersion === 5
  } else {
    c.identify(p.clientId, p.username)
  }
  let keepalive = p.keepalive
  let serverKeepAlive: number | undefined
  const max = broker.limits.maxKeepalive
  if (max > 0 && (keepalive === 0 || keepalive > max)) {
    if (p.protocolVersion !== 5) {
      // 3.x cannot be told a Server Keep Alive: refuse like Mosquitto (identifier rejected)
      refuse(c, 0x85, `keepalive ${keepalive} s outside 1..${max} s (maxKeepalive)`)
      return
    }
    keepalive = max
    serverKeepAlive = max // [MQTT-3.2.2-21] the client must use the Server Keep Alive
  }
  c.useKeepalive(keepalive)

  const hooks = broker.hooks
  if (hooks.preConnect !== undefined) {
    const no = refusal(await hooks.preConnect(c, p), 0x87)
    if (no !== null) {
      refuse(c, no.code, 'preConnect refused', no.text)
      return
    }
  }
  const method = p.protocolVersion === 5 ? p.properties?.authenticationMethod : undefined
  let authData: Buffer | undefined
  if (method !== undefined) {
    const hook = hooks.authenticateEnhanced
    if (hook === undefined) {
      refuse(c, 0x8C, `authentication method ${JSON.stringify(method)} not supported`)
      return
    }
    c.useAuthMethod(method)
    const r = await hook(c, { method, data: p.properties?.authenticationData, step: 'connect' })
    if (c.isClosed) return
    if (r.reasonCode === 0x18) {
      const pending: PendingConnect = { packet: p, assigned, serverKeepAlive }
      c.awaitAuth(pending)
      c.writePacket({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, ...(r.data !== undefined ? { authenticationData: r.data } : {}) } })
      return
    }
    if (r.reasonCode !== 0) {
      refuse(c, r.reasonCode, 'enhanced authentication failed', r.reasonString)
      return
    }
    authData = r.data
  } else if (hooks.authenticate !== undefined) {
    const r = await hooks.authenticate(c, p.username, p.password)
    const no = refusal(r, 0x86)
    if (no !== null) {
      refuse(c, no.code, 'authenticate refused', no.text)
      return
    }
    // allowed under the identity the hook established (e.g. a certificate's CN)
    if (typeof r === 'object' && 'username' in r) c.authenticatedAs(r.username)
  }
  await finishConnect(c, { packet: p, assigned, serverKeepAlive }, authData)
}

/** The part of CONNECT after authentication; also the end of an enhanced-auth exchange. */
export async function finishConnect (c: ConnectionPort, pc: PendingConnect, authData: Buffer | undefined): Promise<void> {
  if (c.isClosed) return
  const p = pc.packet
  const broker = c.broker
  const limits = broker.limits
  const v5 = p.protocolVersion === 5
  const props = p.properties

  // the will is a publish of this client: authorized now, before anything changes (and again when it fires)
  const hook = broker.hooks.authorizePublish
  if (p.will !== undefined && hook !== undefined) {
    const w = p.will
    const ok = await hook(c, { cmd: 'publish', topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain, dup: false })
    if (c.isClosed) return
    if (ok !== true) {
      refuse(c, typeof ok === 'number' && ok >= 0x80 ? ok : 0x87, `will topic ${JSON.stringify(w.topic)} not authorized`)
      return
    }
  }

  let expiry = v5 ? (props?.sessionExpiryInterval ?? 0) : (p.clean ? 0 : 0xFFFFFFFF)
  const requested = expiry
  expiry = Math.min(expiry, limits.maxSessionExpiryInterval)
  c.grantExpiry(requested, expiry)
  // takeover, clean start or resume (session-manager.ts)
  const taken = await c.engine.sessions.take(c, p, expiry)
  if (taken === null) return
  const { s, present } = taken
  const store = broker.store
  if (s.persistent) {
    await store.saveSession({ clientId: s.clientId, protocolVersion: s.protocolVersion, expiryInterval: s.expiryInterval, subscriptions: [...s.subs.values()].map((x) => x.record()), ...(s.owner === undefined ? {} : { username: s.owner }) })
  }
  if (p.will !== undefined) {
    const w = p.will
    // the parsed will is a view of the socket chunk: keep a copy
    c.setWill({ ...w, payload: Buffer.from(w.payload) })
    await store.putWill({ clientId: c.id, nodeId: broker.id, topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain, ...(w.properties !== undefined ? { properties: w.properties } : {}) })
  } else if (c.engine.clustered) {
    // a will left by this client's connection on a node that died is not published
    await store.deleteWill(c.id)
  }
  if (c.isClosed) return

  if (v5) {
    const ack: ConnackProperties = {
      receiveMaximum: limits.maxInflight,
      topicAliasMaximum: limits.topicAliasMaximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true
    }
    if (limits.maxPacketSize < 268435455) ack.maximumPacketSize = limits.maxPacketSize
    if (expiry !== requested) ack.sessionExpiryInterval = expiry
    if (pc.assigned) ack.assignedClientIdentifier = c.id
    if (pc.serverKeepAlive !== undefined) ack.serverKeepAlive = pc.serverKeepAlive
    const respond = broker.responseInformation
    if (respond !== undefined && p.properties?.requestResponseInformation === true) {
      const info = respond(c)
      if (info !== undefined) ack.responseInformation = info
    }
    if (c.authMethod !== undefined) {
      ack.authenticationMethod = c.authMethod
      if (authData !== undefined) ack.authenticationData = authData
    }
    c.write(encodeWithin({ cmd: 'connack', sessionPresent: present, reasonCode: 0, properties: ack }, c.maxOut))
  } else {
    // 3.1 has no session present flag
    c.writePacket({ cmd: 'connack', sessionPresent: present && p.protocolVersion === 4, returnCode: 0 }, p.protocolVersion)
  }
  c.attach(s, Math.min(props?.receiveMaximum ?? 65535, limits.maxInflightOut), v5 ? (props?.topicAliasMaximum ?? 0) : 0)
  // started before the 'client' event: it marks the connection resuming at once, so a
  // message a listener publishes waits behind the replay instead of overtaking it
  const resumed = present ? c.engine.sessions.resume(c, s) : null
  const st = broker.stats
  st.clientsConnected++
  if (st.clientsConnected > st.clientsMaximum) st.clientsMaximum = st.clientsConnected
  if (broker.listenerCount('client') > 0) broker.emit('client', c)
  if (resumed !== null) await resumed
}
