/**
 * Redis's record values: the shared record format of @culex/packet/record (`packRecord`,
 * `[u32 BE header length][header JSON][payload]`), with corruption reported as RedisStoreError.
 * Decoded payloads are views of the value buffer read from Redis, which nobody else holds.
 */
import { messageFromHead, messageHead, packRecord, packWill, unpackRecord, willFromRecord, type UnpackedRecord } from '@culex/packet/record'
import type { OutgoingRecord, StoredMessage, WillRecord } from '@culex/broker'
import { RedisStoreError } from './errors.ts'

/** @throws RedisStoreError STORE_REDIS_ERR_CORRUPT */
export function unpack (buf: Buffer, key: string): UnpackedRecord {
  const r = unpackRecord(buf)
  if (r === null) throw new RedisStoreError('STORE_REDIS_ERR_CORRUPT', `record ${JSON.stringify(key)}: expected [u32 length][JSON header][payload], got ${buf.length} bytes that do not parse`)
  return r
}

/** Encode a retained message. */
export function encodeMessage (m: StoredMessage): Buffer {
  return packRecord(messageHead(m), m.payload)
}

/** Decode a retained message. */
export function decodeMessage (buf: Buffer, key: string): StoredMessage {
  const { head, payload } = unpack(buf, key)
  return messageFromHead(head, payload)
}

/** Encode the immutable part of an outgoing record: message and subscription ids. */
export function encodeOutgoing (m: StoredMessage, subscriptionIds: number[] | undefined): Buffer {
  const h = messageHead(m)
  if (subscriptionIds !== undefined && subscriptionIds.length > 0) h.i = subscriptionIds
  return packRecord(h, m.payload)
}

/** Decode an outgoing record; `state` is `s:{id}`, `p:{id}` or empty (queued). */
export function decodeOutgoing (buf: Buffer, key: string, seq: number, state: string): OutgoingRecord {
  const { head, payload } = unpack(buf, key)
  const r: OutgoingRecord = { seq, state: 'queued', message: messageFromHead(head, payload) }
  if (state !== '') {
    r.state = state.charCodeAt(0) === 112 /* p */ ? 'pubrel' : 'sent'
    r.messageId = Number(state.slice(2))
  }
  if (head.i !== undefined) r.subscriptionIds = head.i as number[]
  return r
}

/** Encode a will. */
export function encodeWill (w: WillRecord): Buffer {
  return packWill(w)
}

/** Decode a will. */
export function decodeWill (buf: Buffer, key: string): WillRecord {
  return willFromRecord(unpack(buf, key))
}
