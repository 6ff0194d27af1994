/**
 * LevelDB's record values: the shared record format of @culex/packet/record (`packRecord`,
 * `[u32 BE header length][header JSON][payload]`), with corruption reported as LevelStoreError.
 * Decoded payloads are views of the value buffer read from LevelDB, which nobody else holds.
 */
import { messageFromHead, messageHead, packRecord, packWill, unpackRecord, willFromRecord, type UnpackedRecord } from '@culex/packet/record'
import type { OutgoingRecord, StoredMessage, WillRecord } from '@culex/broker'
import { LevelStoreError } from './errors.ts'

/** @throws LevelStoreError STORE_LEVEL_ERR_CORRUPT */
export function unpack (buf: Buffer, key: string): UnpackedRecord {
  const r = unpackRecord(buf)
  if (r === null) throw new LevelStoreError('STORE_LEVEL_ERR_CORRUPT', `record ${JSON.stringify(key)}: expected [u32 length][JSON header][payload], got ${buf.length} bytes that do not parse`)
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

/** The mutable part of an outgoing record, kept in memory per client. */
export interface OutMeta {
  state: OutgoingRecord['state']
  messageId: number | undefined
  expiresAt: number | undefined
  /** A state record (`p` key) exists on disk for it. */
  stateKey: boolean
}

/**
 * The state record of a sent outgoing message: 3 bytes, `s` (sent) or `r` (pubrel), then the
 * packet id as u16 BE. Kept apart from the message record so that marking a message sent is
 * one small write, without reading and rewriting the message.
 */
export function encodeOutState (state: 'sent' | 'pubrel', messageId: number): Buffer {
  const b = Buffer.allocUnsafe(3)
  b[0] = state === 'sent' ? 0x73 : 0x72
  b.writeUInt16BE(messageId, 1)
  return b
}

/** @throws LevelStoreError STORE_LEVEL_ERR_CORRUPT */
export function decodeOutState (buf: Buffer, key: string): { state: 'sent' | 'pubrel', messageId: number } {
  if (buf.length !== 3 || (buf[0] !== 0x73 && buf[0] !== 0x72)) throw new LevelStoreError('STORE_LEVEL_ERR_CORRUPT', `record ${JSON.stringify(key)}: expected 3 bytes ('s' or 'r', u16 packet id), got ${buf.length} bytes`)
  return { state: buf[0] === 0x73 ? 'sent' : 'pubrel', messageId: buf.readUInt16BE(1) }
}

/** Encode an outgoing record (seq is in the key, not the value). */
export function encodeOutgoing (meta: OutMeta, m: StoredMessage, subscriptionIds: number[] | undefined): Buffer {
  const h = messageHead(m)
  h.s = meta.state
  if (meta.messageId !== undefined) h.m = meta.messageId
  if (subscriptionIds !== undefined && subscriptionIds.length > 0) h.i = subscriptionIds
  return packRecord(h, m.payload)
}

/** Decode an outgoing record. */
export function decodeOutgoing (buf: Buffer, key: string, seq: number): OutgoingRecord {
  const { head, payload } = unpack(buf, key)
  const r: OutgoingRecord = { seq, state: head.s as OutgoingRecord['state'], message: messageFromHead(head, payload) }
  if (head.m !== undefined) r.messageId = head.m as number
  if (head.i !== undefined) r.subscriptionIds = head.i as number[]
  return r
}

/** Only the header of an outgoing record: state, packet id and expiry. */
export function outgoingMeta (buf: Buffer, key: string): OutMeta {
  const { head } = unpack(buf, key)
  return { state: head.s as OutMeta['state'], messageId: head.m as number | undefined, expiresAt: head.e as number | undefined, stateKey: false }
}

/** Encode a will. */
export function encodeWill (w: WillRecord): Buffer {
  return packWill(w)
}

/** Decode a will. */
export function decodeWill (buf: Buffer, key: string): WillRecord {
  return willFromRecord(unpack(buf, key))
}
