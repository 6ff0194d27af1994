/**
 * Documents for messages and wills. Payloads and correlation data are BSON binary (read back
 * as Buffers: the client is created with `promoteBuffers`). User properties are stored as an
 * array of [key, value] pairs (in order, when given as pairs), because their keys may contain `.` or start with `$`.
 */
import type { StoredMessage, WillRecord } from '@culex/broker'

type Props = NonNullable<StoredMessage['properties']> | NonNullable<WillRecord['properties']>

// User properties in the pairs form (an array, the broker's own) are stored as they are under
// `up` and come back in their order; the object form keeps its entries under `userProperties`.
function propsOut (p: Props): Record<string, unknown> {
  const { userProperties, ...rest } = p
  if (userProperties === undefined) return rest
  return Array.isArray(userProperties) ? { ...rest, up: userProperties } : { ...rest, userProperties: Object.entries(userProperties) }
}

function propsIn<P extends Props> (o: Record<string, unknown>): P {
  const { userProperties, up, ...rest } = o
  const out: Record<string, unknown> = rest
  if (up !== undefined && up !== null) out.userProperties = up
  else if (userProperties !== undefined && userProperties !== null) out.userProperties = Object.fromEntries(userProperties as Array<[string, unknown]>)
  return out as unknown as P
}

/** BSON document of a message. */
export function messageDoc (m: StoredMessage): Record<string, unknown> {
  const d: Record<string, unknown> = { t: m.topic, p: m.payload, q: m.qos, r: m.retain }
  if (m.properties !== undefined) d.pr = propsOut(m.properties)
  if (m.expiresAt !== undefined) d.e = m.expiresAt
  if (m.origin !== undefined) d.o = m.origin
  return d
}

/** Buffer from what the driver returns for binary data. */
function buf (v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v
  const b = v as { buffer: Uint8Array }
  return Buffer.from(b.buffer)
}

/** A message from its document. */
export function messageFrom (d: Record<string, unknown>): StoredMessage {
  const m: StoredMessage = { topic: d.t as string, payload: buf(d.p), qos: d.q as StoredMessage['qos'], retain: d.r as boolean }
  if (d.pr !== undefined && d.pr !== null) {
    const pr = d.pr as Record<string, unknown>
    if (pr.correlationData !== undefined) pr.correlationData = buf(pr.correlationData)
    m.properties = propsIn(pr)
  }
  if (d.e !== undefined && d.e !== null) m.expiresAt = d.e as number
  if (d.o !== undefined && d.o !== null) m.origin = d.o as string
  return m
}

/** BSON document of a will (keyed by client id). */
export function willDoc (w: WillRecord): Record<string, unknown> {
  const d: Record<string, unknown> = { _id: w.clientId, n: w.nodeId, t: w.topic, p: w.payload, q: w.qos, r: w.retain }
  if (w.properties !== undefined) d.pr = propsOut(w.properties)
  if (w.publishAt !== undefined) d.a = w.publishAt
  return d
}

/** A will from its document. */
export function willFrom (d: Record<string, unknown>): WillRecord {
  const w: WillRecord = { clientId: d._id as string, nodeId: d.n as string, topic: d.t as string, payload: buf(d.p), qos: d.q as WillRecord['qos'], retain: d.r as boolean }
  if (d.pr !== undefined && d.pr !== null) {
    const pr = d.pr as Record<string, unknown>
    if (pr.correlationData !== undefined) pr.correlationData = buf(pr.correlationData)
    w.properties = propsIn(pr)
  }
  if (d.a !== undefined && d.a !== null) w.publishAt = d.a as number
  return w
}
