/**
 * Inbound PUBLISH (the hot path). Checks (rate, topic alias, topic name, receive maximum),
 * the optional authorizePublish hook, exactly-once for QoS 2, then routing. The PUBACK /
 * PUBREC goes out only after the store accepted the retained message and every offline
 * persistent subscriber's copy; acknowledgements keep the order the PUBLISHes arrived in.
 */
import type { PublishPacket, PublishProperties } from '@culex/packet'
import { validateTopic } from '@culex/trie'
import { isBrokerError } from '../errors.ts'
import { Routed } from '../routed.ts'
import type { ConnectionPort } from './ports.ts'

/** PUBLISH handler. */
export function handlePublish (c: ConnectionPort, p: PublishPacket): void | Promise<void> {
  const broker = c.broker
  const limits = broker.limits
  broker.stats.publishReceived++
  const k = c.engine.counters
  k.publishIn[p.qos]++
  k.payloadIn[p.qos] += p.payload.length
  if (limits.publishRatePerSecond > 0) {
    if (c.overRate(limits.publishRatePerSecond)) {
      c.error('BROKER_ERR_RATE_LIMIT', `more than ${limits.publishRatePerSecond} PUBLISH per second`)
      c.disconnect(0x96, 'message rate too high')
      return
    }
  }
  let topic = p.topic
  let props = p.properties
  if (props !== undefined && c.protocolVersion === 5) {
    const alias = props.topicAlias
    if (alias !== undefined) {
      if (alias === 0 || alias > limits.topicAliasMaximum) { // [MQTT-3.3.2-8] [MQTT-3.3.2-9]
        c.error('BROKER_ERR_PROTOCOL', `topic alias ${alias} outside 1..${limits.topicAliasMaximum}`, undefined, 0x94)
        c.disconnect(0x94, 'topic alias invalid')
        return
      }
      if (topic.length === 0) {
        const known = c.aliasIn(alias)
        if (known === undefined) {
          c.error('BROKER_ERR_PROTOCOL', `topic alias ${alias} was never set`)
          c.disconnect(0x82, 'unknown topic alias')
          return
        }
        topic = known
      } else {
        c.setAliasIn(alias, topic)
      }
    }
    if (alias !== undefined || props.subscriptionIdentifier !== undefined) {
      const copy: PublishProperties = { ...props }
      delete copy.topicAlias
      delete copy.subscriptionIdentifier
      props = copy
    }
  }
  const bad = validateTopic(topic, broker.topicLimits)
  if (bad !== null) { // [MQTT-3.3.2-2] [MQTT-4.7.3-1]
    c.error('BROKER_ERR_TOPIC_INVALID', bad.message, bad)
    c.disconnect(0x90, 'topic name invalid')
    return
  }
  if (topic.startsWith('$SYS') && (topic.length === 4 || topic.charCodeAt(4) === 0x2f)) {
    // $SYS belongs to the broker: clients may read it, not write it (as with Mosquitto)
    deny(c, p, 0x87, 'the $SYS topic tree is written by the broker only')
    return
  }
  const qos = p.qos
  if (qos > 0) {
    if (c.protocolVersion === 5 && c.inUnacked >= limits.maxInflight) {
      // more unacknowledged QoS 1/2 than our Receive Maximum [MQTT-3.3.4-9]
      c.error('BROKER_ERR_RECEIVE_MAXIMUM', `more than ${limits.maxInflight} unacknowledged QoS 1/2 PUBLISH`)
      c.disconnect(0x93, 'receive maximum exceeded')
      return
    }
    if (qos === 2) {
      const s = c.session!
      if (s.incoming !== null && s.incoming.has(p.messageId!)) {
        // already received, PUBREL not yet: acknowledge again, do not route again [MQTT-4.3.3-10]
        c.writePacket({ cmd: 'pubrec', messageId: p.messageId! })
        return
      }
      if (s.restored && s.persistent) return checkRestored(c, p, topic, props)
    }
  }
  return authorize(c, p, topic, props)
}

/** The rest of the one publish path: `topic` is resolved (alias) and checked. */
function authorize (c: ConnectionPort, p: PublishPacket, topic: string, props: PublishProperties | undefined): void | Promise<void> {
  const broker = c.broker
  const qos = p.qos
  const expiry = props?.messageExpiryInterval
  const m = new Routed(topic, p.payload, qos, p.retain, props, expiry !== undefined ? broker.clock.now() + expiry * 1000 : undefined, c.id, false)
  const hook = broker.hooks.authorizePublish
  if (hook !== undefined) {
    const ok = hook(c, topic === p.topic ? p : { ...p, topic })
    if (typeof ok === 'object') {
      return ok.then((ok) => {
        if (ok === true) {
          accept(c, p, m)
          return
        }
        deny(c, p, typeof ok === 'number' ? ok : 0x87)
      })
    }
    // a synchronous answer keeps the PUBLISH synchronous: no promise and no backlog turn per message
    if (ok !== true) {
      deny(c, p, typeof ok === 'number' ? ok : 0x87)
      return
    }
  }
  accept(c, p, m)
}

/**
 * The first QoS 2 PUBLISH of a session restored from the store: its packet id may have been
 * received before the restart (PUBREC sent, PUBREL not yet) [MQTT-4.3.3-10]; if not, it goes
 * on along the one publish path.
 */
async function checkRestored (c: ConnectionPort, p: PublishPacket, topic: string, props: PublishProperties | undefined): Promise<void> {
  const s = c.session!
  if (await c.broker.store.hasIncoming(s.clientId, p.messageId!)) {
    ;(s.incoming ??= new Set()).add(p.messageId!)
    c.holdInbound()
    c.writePacket({ cmd: 'pubrec', messageId: p.messageId! })
    return
  }
  s.restored = false
  await authorize(c, p, topic, props)
}

/** Refused (authorizePublish, $SYS): 5.0 gets the reason code, 3.x an ordinary ack (message dropped). */
function deny (c: ConnectionPort, p: PublishPacket, reasonCode: number, why?: string): void {
  c.error('BROKER_ERR_NOT_AUTHORIZED', `PUBLISH to ${JSON.stringify(p.topic)} refused${why === undefined ? '' : `: ${why}`}`, undefined, reasonCode)
  if (p.qos === 0) return
  const v5 = c.protocolVersion === 5
  if (p.qos === 1) {
    c.writePacket(v5 ? { cmd: 'puback', messageId: p.messageId!, reasonCode } : { cmd: 'puback', messageId: p.messageId! })
    return
  }
  if (v5) {
    c.writePacket({ cmd: 'pubrec', messageId: p.messageId!, reasonCode })
    return
  }
  const s = c.session!
  ;(s.incoming ??= new Set()).add(p.messageId!)
  c.holdInbound()
  c.writePacket({ cmd: 'pubrec', messageId: p.messageId! })
}

function accept (c: ConnectionPort, p: PublishPacket, m: Routed): void {
  const broker = c.broker
  const stored = c.engine.dispatch(m, c)
  const qos = p.qos
  if (qos === 0) {
    if (stored !== null) stored.catch((err: unknown) => { broker.storeError('storing a QoS 0 message', err) })
    return
  }
  const id = p.messageId!
  let s = c.session!
  if (qos === 2) {
    s = c.session!
    ;(s.incoming ??= new Set()).add(id)
    c.holdInbound()
  }
  let work: Promise<unknown> | null = stored
  if (qos === 2 && s.persistent) {
    const put = broker.store.putIncoming(s.clientId, id)
    work = work === null ? put : Promise.all([work, put])
  }
  if (work === null && c.ackTail === null) {
    writeAck(c, qos, id, 0)
    return
  }
  // wait for the store, for room in full subscriber queues, and for earlier acks, so acks
  // keep their order [MQTT-4.6.0-2] [MQTT-4.6.0-3]
  if (qos === 1) c.holdInbound()
  const before = c.ackTail
  const gate = work === null ? before! : before === null ? work : Promise.all([before, work])
  const tail: Promise<unknown> = gate.then(() => 0, (err: unknown) => {
    if (isBrokerError(err) && err.code === 'BROKER_ERR_QUOTA_EXCEEDED') return 0x97 // queuePolicy 'reject'
    broker.storeError('storing a message before acknowledging it', err)
    return 0x80
  }).then((rc) => {
    if (qos === 1) c.releaseInbound()
    c.acked(tail) // a 3.x publisher has no Receive Maximum: read again once its acks go out
    if (rc !== 0 && c.protocolVersion !== 5) {
      // 3.x has no negative acknowledgement: close so the client resends
      c.disconnect(0x80, 'store failure')
      return
    }
    if (rc !== 0 && qos === 2 && s.incoming !== null && s.incoming.delete(id)) {
      // a PUBREC with a failure code ends the exchange (MQTT 5 §4.3.3): the id is free again
      c.releaseInbound()
      if (s.persistent) broker.store.deleteIncoming(s.clientId, id).catch((err: unknown) => { broker.storeError('forgetting a refused QoS 2 id', err) })
    }
    writeAck(c, qos, id, rc as number)
  })
  c.ackAfter(tail)
}

function writeAck (c: ConnectionPort, qos: number, id: number, rc: number): void {
  if (rc === 0) {
    // success acks are 4 bytes in every version (5.0 may omit reason code 0x00 and properties):
    // written directly instead of going through the generic encoder, once per QoS 1/2 PUBLISH
    const b = Buffer.allocUnsafe(4)
    b[0] = qos === 1 ? 0x40 : 0x50
    b[1] = 2
    b[2] = id >> 8
    b[3] = id & 0xff
    c.write(b)
    return
  }
  if (qos === 1) c.writePacket({ cmd: 'puback', messageId: id, reasonCode: rc })
  else c.writePacket({ cmd: 'pubrec', messageId: id, reasonCode: rc })
}
