/**
 * SUBSCRIBE: validate each filter, ask authorizeSubscribe, register it (replacing an
 * existing subscription with the same filter [MQTT-3.8.4-3]), persist for persistent
 * sessions, answer SUBACK with one code per filter [MQTT-3.8.4-6], then send matching
 * retained messages per Retain Handling (never for shared subscriptions).
 */
import type { QoS, SubscribePacket } from '@culex/packet'
import { parseShared, validateFilter } from '@culex/trie'
import type { GrantedSubscription } from '../broker.ts'
import { Routed } from '../routed.ts'
import type { Session } from '../session.ts'
import type { StoredMessage, SubscriptionRecord } from '../store.ts'
import type { ConnectionPort } from './ports.ts'

/** SUBSCRIBE handler. */
export async function handleSubscribe (c: ConnectionPort, p: SubscribePacket): Promise<void> {
  const broker = c.broker
  const s = c.session!
  const v5 = c.protocolVersion === 5
  const subId = p.properties?.subscriptionIdentifier ?? 0
  const opts = broker.topicLimits
  const granted: number[] = []
  const report: GrantedSubscription[] = []
  const records: SubscriptionRecord[] = []
  const retained: Array<{ filter: string, qos: QoS, rap: boolean }> = []
  for (const sub of p.subscriptions) {
    const shared = parseShared(sub.topic, opts)
    const err = shared === null ? validateFilter(sub.topic, opts) : (shared instanceof Error ? shared : null)
    let code: number
    if (err !== null) {
      code = v5 ? 0x8F : 0x80
    } else if (shared !== null && sub.nl === true) {
      // no local on a shared subscription is a protocol error [MQTT-3.8.3-4]
      c.error('BROKER_ERR_PROTOCOL', `no local set on shared subscription ${JSON.stringify(sub.topic)}`)
      c.disconnect(0x82, 'no local on a shared subscription')
      return
    } else {
      code = sub.qos
      const hook = broker.hooks.authorizeSubscribe
      if (hook !== undefined) {
        const ok = await hook(c, sub)
        if (c.isClosed) return
        if (ok === false) code = v5 ? 0x87 : 0x80
        else if (typeof ok === 'number') code = ok >= 0x80 ? (v5 ? ok : 0x80) : Math.min(ok, sub.qos)
      }
    }
    granted.push(code)
    report.push({ topic: sub.topic, qos: sub.qos, granted: code })
    if (code >= 0x80) continue
    const qos = code as QoS
    const nl = sub.nl ?? false
    const rap = sub.rap ?? false
    const rh = sub.rh ?? 0
    const existed = c.engine.router.add(s, sub.topic, qos, nl, rap, rh, subId)
    const rec: SubscriptionRecord = { topic: sub.topic, qos, nl, rap, rh }
    if (subId > 0) rec.subscriptionId = subId
    records.push(rec)
    // retained on subscribe: rh 0 always, rh 1 only for a new subscription, rh 2 never [MQTT-3.3.1-9..11]
    if (shared === null && (rh === 0 || (rh === 1 && !existed))) retained.push({ filter: sub.topic, qos, rap })
  }
  if (s.persistent && records.length > 0) await broker.store.addSubscriptions(s.clientId, records)
  if (c.isClosed) return
  c.writePacket({ cmd: 'suback', messageId: p.messageId, granted })
  if (broker.listenerCount('subscribe') > 0) broker.emit('subscribe', report, c)
  const ids = subId > 0 ? [subId] : null
  const batches: RetainedBatch[] = []
  for (const r of retained) {
    const msgs = await broker.store.matchRetained(r.filter)
    if (c.isClosed) return
    if (msgs.length > 0) batches.push({ msgs, qos: r.qos })
  }
  if (batches.length > 0) sendRetained(c, s, batches, ids)
}

interface RetainedBatch { msgs: StoredMessage[], qos: QoS }

/**
 * Send retained messages as fast as the client takes them: while there is room (see
 * Connection.hasRoom), else after its acks or a drained socket. Not awaited by the handler,
 * so the client's PUBACKs, which make the room, are processed meanwhile. Without pacing a
 * wildcard SUBSCRIBE over more retained messages than the queue bound lost the rest: 1,100
 * of 5,000 arrived at QoS 1 with the default maxQueuedMessages (1000) and maxInflight (100).
 */
function sendRetained (c: ConnectionPort, s: Session, batches: RetainedBatch[], ids: number[] | null): void {
  let b = 0
  let i = 0
  const step = (): void => {
    while (b < batches.length) {
      const { msgs, qos: granted } = batches[b]!
      while (i < msgs.length) {
        if (c.isClosed) return
        const m = msgs[i]!
        const qos = (m.qos < granted ? m.qos : granted) as QoS
        if (!c.log!.hasRoom(qos)) {
          c.log!.waitRoom(step)
          return
        }
        i++
        // read authorization per retained message: a granted filter is not a read grant
        const fm = c.engine.router.readable(s, c, m)
        if (fm === null) continue
        // retained messages sent because of a new subscription have RETAIN 1 [MQTT-3.3.1-8]
        c.deliver(Routed.from(fm), qos, true, ids, null)
      }
      b++
      i = 0
    }
  }
  step()
}
