/**
 * `Routed`: one application message on its way to subscribers, with the wire forms already
 * encoded for it.
 *
 * A PUBLISH fanned out to N subscribers is encoded at most once per distinct wire form
 * (3.x vs 5.0 × QoS × retain flag = 12 slots), and the Buffer is shared by every subscriber
 * that gets that form. QoS 1/2 forms are encoded with packet id 1 and patched per subscriber
 * (see {@link patchId}). Deliveries that need their own bytes (subscription identifiers,
 * outbound topic aliases, a message expiry to recount) are encoded per subscriber.
 *
 * The payload starts as a view of the publisher's socket chunk; `own()` copies it once when
 * the message must outlive the routing call (queued, inflight, retained).
 */
import { encode, type PublishPacket, type PublishProperties, type QoS } from '@culex/packet'
import type { StoredMessage } from './store.ts'

/** A message being routed. Shape-stable: every field set in the constructor. */
export class Routed implements StoredMessage {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  properties?: PublishProperties
  expiresAt?: number
  origin?: string
  #owned: boolean
  #wire: Array<Buffer | undefined> | null
  /** Bit per wire slot: its shared QoS 1/2 buffer was handed to one delivery and patched in place. */
  #taken: number

  constructor (topic: string, payload: Buffer, qos: QoS, retain: boolean, properties: PublishProperties | undefined, expiresAt: number | undefined, origin: string | undefined, owned: boolean) {
    this.topic = topic
    this.payload = payload
    this.qos = qos
    this.retain = retain
    if (properties !== undefined) this.properties = properties
    if (expiresAt !== undefined) this.expiresAt = expiresAt
    if (origin !== undefined) this.origin = origin
    this.#owned = owned
    this.#wire = null
    this.#taken = 0
  }

  /** Build from a stored message (queue replay, retained, will): already owns its bytes. */
  static from (m: StoredMessage): Routed {
    return new Routed(m.topic, m.payload, m.qos, m.retain, m.properties, m.expiresAt, m.origin, true)
  }

  /** Copy the payload once so this message no longer pins the socket chunk. */
  own (): void {
    if (this.#owned) return
    this.#owned = true
    this.payload = Buffer.from(this.payload)
    this.#wire = null
    this.#taken = 0
  }

  /** A plain StoredMessage with the delivery's `qos` (already downgraded) and retain flag. */
  stored (qos: QoS, retain: boolean): StoredMessage {
    const m: StoredMessage = { topic: this.topic, payload: this.payload, qos, retain }
    if (this.properties !== undefined) m.properties = this.properties
    if (this.expiresAt !== undefined) m.expiresAt = this.expiresAt
    if (this.origin !== undefined) m.origin = this.origin
    return m
  }

  /** Whether the message expiry interval has passed at `now`. */
  expired (now: number): boolean {
    return this.expiresAt !== undefined && this.expiresAt <= now
  }

  /**
   * The shared encoding for (v5?, qos, retain), packet id 1 when qos > 0, DUP 0, no
   * subscription identifier, no alias. Only valid for messages without `expiresAt`.
   */
  wire (v5: boolean, qos: QoS, retain: boolean): Buffer {
    const slot = (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0)
    let cache = this.#wire
    if (cache === null) cache = this.#wire = new Array<Buffer | undefined>(12)
    let buf = cache[slot]
    if (buf === undefined) {
      buf = cache[slot] = this.encode(v5, qos, retain, false, 1, undefined, undefined, this.topic, 0)
    }
    return buf
  }

  /**
   * The bytes of one QoS 1/2 delivery with packet id `id`: the first delivery of a wire form
   * takes the shared buffer itself and patches it in place; later ones get a patched copy of it.
   * Most QoS 1/2 messages go to one subscriber, so most deliveries skip the copy: QoS 1 fan-in
   * 4 → 1 (apps/bench, window 32, broker on CPU 0 and generator on CPU 1, 7 alternating runs
   * each) went from a median of 324k to 335k delivered msg/s (aedes 1.2.0: 91k, same runs).
   */
  take (v5: boolean, qos: QoS, retain: boolean, id: number, dup: boolean): Buffer {
    const buf = this.wire(v5, qos, retain)
    const bit = 1 << ((v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0))
    if ((this.#taken & bit) !== 0) return patchId(buf, id, dup)
    this.#taken |= bit
    setId(buf, idOffset(buf), id, dup)
    return buf
  }

  /** Encode one delivery with everything it needs. */
  encode (v5: boolean, qos: QoS, retain: boolean, dup: boolean, messageId: number, subIds: number[] | null | undefined, alias: number | undefined, topic: string, now: number): Buffer {
    const packet: PublishPacket = { cmd: 'publish', topic, payload: this.payload, qos, dup, retain }
    if (qos > 0) packet.messageId = messageId
    if (v5) {
      let props = this.properties
      if (this.expiresAt !== undefined || (subIds !== null && subIds !== undefined) || alias !== undefined) {
        props = { ...props }
        // [MQTT-3.3.2-6] the forwarded interval is the received one minus the time spent waiting
        if (this.expiresAt !== undefined) props.messageExpiryInterval = Math.max(0, Math.ceil((this.expiresAt - now) / 1000))
        if (subIds !== null && subIds !== undefined) props.subscriptionIdentifier = subIds.length === 1 ? subIds[0]! : subIds
        if (alias !== undefined) props.topicAlias = alias
      }
      if (props !== undefined) packet.properties = props
    }
    return encode(packet, v5 ? 5 : 4)
  }
}

/** Offset of the packet identifier inside an encoded QoS 1/2 PUBLISH. */
export function idOffset (buf: Buffer): number {
  let i = 1
  while ((buf[i]! & 0x80) !== 0) i++
  i++
  return i + 2 + buf.readUInt16BE(i)
}

/** Write packet id `id` at `at` and set or clear DUP. */
function setId (buf: Buffer, at: number, id: number, dup: boolean): void {
  buf[at] = id >> 8
  buf[at + 1] = id & 0xff
  buf[0] = dup ? buf[0]! | 0x08 : buf[0]! & 0xf7
}

/**
 * A copy of a shared QoS 1/2 encoding with packet id `id` and DUP set or cleared (the source
 * may carry another delivery's id and DUP flag).
 */
export function patchId (buf: Buffer, id: number, dup: boolean): Buffer {
  const out = Buffer.allocUnsafe(buf.length)
  buf.copy(out)
  setId(out, idOffset(buf), id, dup)
  return out
}
