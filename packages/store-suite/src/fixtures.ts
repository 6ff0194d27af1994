/**
 * Data the contract suite stores and expects back: messages with every byte value, MQTT 5
 * properties with binary correlation data and repeated user properties, and helpers that
 * compare what a store returns with what went in (normalising absent optional fields).
 */
import type { OutgoingRecord, SessionRecord, StoredMessage, WillRecord } from '@culex/broker'

/** Every byte value 0..255 twice, as a view into a larger buffer (offset 7) like a socket chunk. */
export function allBytes (): Buffer {
  const backing = Buffer.alloc(7 + 512 + 5, 0xee)
  for (let i = 0; i < 512; i++) backing[7 + i] = i & 0xff
  return backing.subarray(7, 7 + 512)
}

/** A QoS 1 message with a given topic and text payload. */
export function msg (topic: string, payload: string | Buffer = 'x', extra: Partial<StoredMessage> = {}): StoredMessage {
  return { topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: 1, retain: false, ...extra }
}

/** A message that uses every field of StoredMessage. */
export function richMessage (topic = 'rich/topic'): StoredMessage {
  return {
    topic,
    payload: allBytes(),
    qos: 2,
    retain: true,
    origin: 'publisher-ü',
    expiresAt: Date.now() + 3_600_000,
    properties: {
      payloadFormatIndicator: false,
      messageExpiryInterval: 3600,
      contentType: 'application/octet-stream',
      responseTopic: 'reply/to/é',
      correlationData: Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]),
      // pairs, in an order an object would not keep: integer-like names, a repeated name
      userProperties: [['a', 'b'], ['2', 'two'], ['ünï', 'x'], ['10', 'ten'], ['ünï', 'y'], ['1', ''], ['ünï', ''], ['empty', '']]
    }
  }
}

/** A will that uses every field of WillRecord. */
export function richWill (clientId: string, nodeId: string): WillRecord {
  return {
    clientId,
    nodeId,
    topic: `will/${clientId}`,
    payload: allBytes(),
    qos: 1,
    retain: true,
    publishAt: Date.now() + 60_000,
    properties: {
      willDelayInterval: 60,
      payloadFormatIndicator: true,
      messageExpiryInterval: 10,
      contentType: 'text/plain',
      responseTopic: 'r',
      correlationData: Buffer.from([9, 0, 9]),
      userProperties: [['k', 'v1'], ['3', 'x'], ['k', 'v2']]
    }
  }
}

/** A session with two subscriptions, one with MQTT 5 options. */
export function session (clientId: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    clientId,
    protocolVersion: 5,
    expiryInterval: 0xFFFFFFFF,
    subscriptions: [
      { topic: 'a/+/c', qos: 1, nl: false, rap: false, rh: 0 },
      { topic: '$share/g/x/#', qos: 2, nl: true, rap: true, rh: 2, subscriptionId: 268435455 }
    ],
    ...extra
  }
}

/** Plain-data form for deep comparison: Buffers become hex strings tagged as such. */
export function plain (v: unknown): unknown {
  if (Buffer.isBuffer(v)) return { buffer: v.toString('hex') }
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k]
      if (x !== undefined) out[k] = plain(x)
    }
    return out
  }
  return v
}

/** Outgoing records without their store-assigned seq. */
export function withoutSeq (records: OutgoingRecord[]): unknown {
  return plain(records.map(({ seq: _seq, ...rest }) => rest))
}

/** Retained matches sorted by topic, as plain data. */
export function byTopic (messages: StoredMessage[]): unknown {
  return plain([...messages].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0)))
}

/** Sessions as plain data with subscriptions sorted by filter (store order is unspecified). */
export function sessionPlain (s: SessionRecord | null): unknown {
  if (s === null) return null
  return plain({ ...s, subscriptions: [...s.subscriptions].sort((a, b) => (a.topic < b.topic ? -1 : 1)) })
}
