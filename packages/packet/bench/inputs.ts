/** The packets every benchmark uses. */
import type { Packet, ProtocolVersion } from '../src/index.ts'

export function publishes (payloadSize: number, count: number, version: ProtocolVersion): Packet[] {
  const out: Packet[] = []
  for (let i = 0; i < count; i++) {
    const qos = (i % 2) as 0 | 1 // half QoS 0, half QoS 1
    const p: Packet = {
      cmd: 'publish',
      qos,
      dup: false,
      retain: false,
      topic: `sensors/building-${i % 8}/floor-${i % 5}/temperature`,
      payload: Buffer.alloc(payloadSize, i & 0xff)
    }
    if (qos > 0) p.messageId = (i % 65535) + 1
    if (version === 5 && i % 4 === 0) p.properties = { contentType: 'application/json', userProperties: { trace: String(i) } }
    out.push(p)
  }
  return out
}

/** One of every packet type valid in `version`, repeated. */
export function mix (version: ProtocolVersion, rounds: number): Packet[] {
  const five = version === 5
  const one: Packet[] = [
    { cmd: 'connack', sessionPresent: false, ...(five ? { reasonCode: 0, properties: { topicAliasMaximum: 10 } } : { returnCode: 0 }) },
    { cmd: 'publish', qos: 1, dup: false, retain: true, topic: 'a/b/c', payload: Buffer.alloc(64, 1), messageId: 1 },
    { cmd: 'puback', messageId: 1, ...(five ? { reasonCode: 0 } : {}) },
    { cmd: 'pubrec', messageId: 2, ...(five ? { reasonCode: 0 } : {}) },
    { cmd: 'pubrel', messageId: 2, ...(five ? { reasonCode: 0 } : {}) },
    { cmd: 'pubcomp', messageId: 2, ...(five ? { reasonCode: 0 } : {}) },
    { cmd: 'subscribe', messageId: 3, subscriptions: five ? [{ topic: 'a/+/c', qos: 1, nl: false, rap: false, rh: 0 }, { topic: 'd/#', qos: 2, nl: true, rap: true, rh: 1 }] : [{ topic: 'a/+/c', qos: 1 }, { topic: 'd/#', qos: 2 }] },
    { cmd: 'suback', messageId: 3, granted: [1, 2] },
    { cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a/+/c'] },
    { cmd: 'unsuback', messageId: 4, ...(five ? { granted: [0] } : {}) },
    { cmd: 'pingreq' },
    { cmd: 'pingresp' },
    { cmd: 'disconnect', ...(five ? { reasonCode: 0x04, properties: { reasonString: 'bye' } } : {}) }
  ]
  if (five) one.push({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('data') } })
  const out: Packet[] = []
  for (let i = 0; i < rounds; i++) out.push(...one)
  return out
}
