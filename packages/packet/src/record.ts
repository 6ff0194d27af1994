/**
 * `@culex/packet/record`: the byte format Culex stores use for messages and wills:
 * `[u32 BE header length][header JSON][payload]`. The payload is stored raw (never base64);
 * every other field is in the header under short keys; binary correlation data goes into the
 * header as base64 under `cd`.
 *
 * User properties are kept in the form given: `[name, value]` pairs (what the broker parses)
 * come back in the same order, which JSON keeps for arrays [MQTT-3.3.2-18].
 *
 * Shared by the engine and the stores that keep bytes (LevelDB, Redis, the Redis bus) so that
 * one record format exists, not one per store, and no store needs the engine at run time.
 * The format is on disk: it never changes (test/fixtures/records.ts holds its golden bytes).
 * Decoded payloads are views of the buffer passed to `unpackRecord`.
 */
import type { PublishProperties, QoS, WillProperties } from './types.ts'

/**
 * A stored message: one PUBLISH, independent of any connection. @culex/broker re-exports it
 * as `StoredMessage`, the message type of its `Store` contract.
 */
export interface RecordMessage {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  /** MQTT 5 properties to forward (not topicAlias or subscriptionIdentifier). */
  properties?: PublishProperties
  /** Absolute expiry time (ms since epoch) from the message expiry interval; absent = never. */
  expiresAt?: number
  /** The client id of the publisher, for no-local; absent for broker-originated messages. */
  origin?: string
}

/** A stored will (the shape of `WillRecord` in @culex/broker). */
export interface RecordWill {
  clientId: string
  /** Broker node id that holds the connection. */
  nodeId: string
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  properties?: WillProperties
  /** Absolute time (ms) at which to publish it, when delayed. */
  publishAt?: number
}

type Props = PublishProperties | WillProperties

/** A record split into its JSON header and raw payload. */
export interface UnpackedRecord {
  head: Record<string, unknown>
  payload: Buffer
}

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
export function packRecord (head: object, payload: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(head))
  const out = Buffer.allocUnsafe(4 + h.length + payload.length)
  out.writeUInt32BE(h.length, 0)
  h.copy(out, 4)
  payload.copy(out, 4 + h.length)
  return out
}

/** Split a record; null when the bytes are not a record (the caller reports corruption). */
export function unpackRecord (buf: Buffer): UnpackedRecord | null {
  if (buf.length < 4) return null
  const n = buf.readUInt32BE(0)
  if (4 + n > buf.length) return null
  try {
    const head: unknown = JSON.parse(buf.toString('utf8', 4, 4 + n))
    if (head === null || typeof head !== 'object' || Array.isArray(head)) return null
    return { head: head as Record<string, unknown>, payload: buf.subarray(4 + n) }
  } catch {
    return null
  }
}

/** Header fields of a message (topic, QoS, retain, properties, expiry, origin). */
export function messageHead (m: RecordMessage): Record<string, unknown> {
  const h: Record<string, unknown> = { t: m.topic, q: m.qos, r: m.retain }
  if (m.properties !== undefined) h.p = propsOut(m.properties)
  if (m.expiresAt !== undefined) h.e = m.expiresAt
  if (m.origin !== undefined) h.o = m.origin
  return h
}

/** The message a header (from `messageHead`) and payload describe. */
export function messageFromHead (h: Record<string, unknown>, payload: Buffer): RecordMessage {
  const m: RecordMessage = { topic: h.t as string, payload, qos: h.q as RecordMessage['qos'], retain: h.r as boolean }
  if (h.p !== undefined) m.properties = propsIn(h.p as Record<string, unknown>)
  if (h.e !== undefined) m.expiresAt = h.e as number
  if (h.o !== undefined) m.origin = h.o as string
  return m
}

/** A will as one record. */
export function packWill (w: RecordWill): Buffer {
  const h: Record<string, unknown> = { c: w.clientId, n: w.nodeId, t: w.topic, q: w.qos, r: w.retain }
  if (w.properties !== undefined) h.p = propsOut(w.properties)
  if (w.publishAt !== undefined) h.a = w.publishAt
  return packRecord(h, w.payload)
}

/** The will an unpacked record (from `packWill`) holds. */
export function willFromRecord ({ head: h, payload }: UnpackedRecord): RecordWill {
  const w: RecordWill = { clientId: h.c as string, nodeId: h.n as string, topic: h.t as string, payload, qos: h.q as RecordWill['qos'], retain: h.r as boolean }
  if (h.p !== undefined) w.properties = propsIn(h.p as Record<string, unknown>)
  if (h.a !== undefined) w.publishAt = h.a as number
  return w
}
