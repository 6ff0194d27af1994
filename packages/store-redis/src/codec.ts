/**
 * Byte layout of stored records. A record is `[u32 BE header length][header JSON][payload]`:
 * the payload is stored raw (never base64), the header holds every other field; binary
 * correlation data goes into the header as base64 under `cd`. Decoded payloads are views of
 * the value buffer read from Redis, which nobody else holds.
 */
import type { OutgoingRecord, StoredMessage, WillRecord } from '@culex/broker'
import { RedisStoreError } from './errors.ts'

type Props = NonNullable<StoredMessage['properties']> | NonNullable<WillRecord['properties']>

function propsOut (p: Props): Record<string, unknown> {
  const { correlationData, ...rest } = p
  return correlationData === undefined ? rest : { ...rest, cd: correlationData.toString('base64') }
}

function propsIn<P extends Props> (o: Record<string, unknown>): P {
  const { cd, ...rest } = o
  const out: Record<string, unknown> = cd === undefined ? rest : { ...rest, correlationData: Buffer.from(cd as string, 'base64') }
  return out as unknown as P
}

/** Header plus raw payload in one exactly sized Buffer. */
export function pack (head: object, payload: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(head))
  const out = Buffer.allocUnsafe(4 + h.length + payload.length)
  out.writeUInt32BE(h.length, 0)
  h.copy(out, 4)
  payload.copy(out, 4 + h.length)
  return out
}

/** @throws RedisStoreError STORE_REDIS_ERR_CORRUPT */
export function unpack (buf: Buffer, key: string): { head: Record<string, unknown>, payload: Buffer } {
  try {
    const n = buf.readUInt32BE(0)
    const head = JSON.parse(buf.toString('utf8', 4, 4 + n)) as Record<string, unknown>
    return { head, payload: buf.subarray(4 + n) }
  } catch (err) {
    throw new RedisStoreError('STORE_REDIS_ERR_CORRUPT', `record ${JSON.stringify(key)}: expected [u32 length][JSON header][payload], got ${buf.length} bytes that do not parse`, { cause: err })
  }
}

export function messageHead (m: StoredMessage): Record<string, unknown> {
  const h: Record<string, unknown> = { t: m.topic, q: m.qos, r: m.retain }
  if (m.properties !== undefined) h.p = propsOut(m.properties)
  if (m.expiresAt !== undefined) h.e = m.expiresAt
  if (m.origin !== undefined) h.o = m.origin
  return h
}

export function messageFrom (h: Record<string, unknown>, payload: Buffer): StoredMessage {
  const m: StoredMessage = { topic: h.t as string, payload, qos: h.q as StoredMessage['qos'], retain: h.r as boolean }
  if (h.p !== undefined) m.properties = propsIn(h.p as Record<string, unknown>)
  if (h.e !== undefined) m.expiresAt = h.e as number
  if (h.o !== undefined) m.origin = h.o as string
  return m
}

/** Encode a retained message. */
export function encodeMessage (m: StoredMessage): Buffer {
  return pack(messageHead(m), m.payload)
}

/** Decode a retained message. */
export function decodeMessage (buf: Buffer, key: string): StoredMessage {
  const { head, payload } = unpack(buf, key)
  return messageFrom(head, payload)
}

/** Encode the immutable part of an outgoing record: message and subscription ids. */
export function encodeOutgoing (m: StoredMessage, subscriptionIds: number[] | undefined): Buffer {
  const h = messageHead(m)
  if (subscriptionIds !== undefined && subscriptionIds.length > 0) h.i = subscriptionIds
  return pack(h, m.payload)
}

/** Decode an outgoing record; `state` is `s:{id}`, `p:{id}` or empty (queued). */
export function decodeOutgoing (buf: Buffer, key: string, seq: number, state: string): OutgoingRecord {
  const { head, payload } = unpack(buf, key)
  const r: OutgoingRecord = { seq, state: 'queued', message: messageFrom(head, payload) }
  if (state !== '') {
    r.state = state.charCodeAt(0) === 112 /* p */ ? 'pubrel' : 'sent'
    r.messageId = Number(state.slice(2))
  }
  if (head.i !== undefined) r.subscriptionIds = head.i as number[]
  return r
}

/** Encode a will. */
export function encodeWill (w: WillRecord): Buffer {
  const h: Record<string, unknown> = { c: w.clientId, n: w.nodeId, t: w.topic, q: w.qos, r: w.retain }
  if (w.properties !== undefined) h.p = propsOut(w.properties)
  if (w.publishAt !== undefined) h.a = w.publishAt
  return pack(h, w.payload)
}

/** Decode a will. */
export function decodeWill (buf: Buffer, key: string): WillRecord {
  const { head: h, payload } = unpack(buf, key)
  const w: WillRecord = { clientId: h.c as string, nodeId: h.n as string, topic: h.t as string, payload, qos: h.q as WillRecord['qos'], retain: h.r as boolean }
  if (h.p !== undefined) w.properties = propsIn(h.p as Record<string, unknown>)
  if (h.a !== undefined) w.publishAt = h.a as number
  return w
}
