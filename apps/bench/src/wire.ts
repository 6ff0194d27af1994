/**
 * The few MQTT 3.1.1 packets the load generator sends, encoded once up front.
 *
 * The generator never encodes on the hot path: publishes are built here once (or once per
 * in-flight slot) with @culex/packet's encoder and written again and again. Acknowledgements,
 * the only per-message packets, are 4 bytes written in place by {@link writeAck}. Only MQTT 3.1.1 (protocol level 4) is used,
 * because every broker under comparison speaks it. Topics and client ids are ASCII/UTF-8.
 */

import { encode, PacketType, type QoS } from '@culex/packet'

/** Fixed-header packet types (first byte >> 4), as @culex/packet numbers them. */
export const T = PacketType

/** Options of {@link encodeConnect}. */
export interface ConnectOptions {
  clientId: string
  /** Clean session flag (MQTT 3.1.1). Default true. */
  clean?: boolean
  /** Keep alive in seconds. Default 60. */
  keepalive?: number
}

/** Options of {@link encodePublish}. */
export interface PublishOptions {
  topic: string
  payload: Buffer
  qos?: QoS
  retain?: boolean
  /** Required for QoS 1 and 2. */
  packetId?: number
}

/** CONNECT, MQTT 3.1.1, no will, no credentials. */
export function encodeConnect (opts: ConnectOptions): Buffer {
  return encode({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: opts.clean ?? true,
    keepalive: opts.keepalive ?? 60,
    clientId: opts.clientId
  }, 4)
}

/** SUBSCRIBE with one filter per entry, all at `qos`. */
export function encodeSubscribe (packetId: number, filters: readonly string[], qos: QoS): Buffer {
  return encode({ cmd: 'subscribe', messageId: packetId, subscriptions: filters.map(topic => ({ topic, qos })) }, 4)
}

/** PUBLISH (packet id 1 unless given; only QoS 1/2 carry one). */
export function encodePublish (opts: PublishOptions): Buffer {
  const qos = opts.qos ?? 0
  return encode({
    cmd: 'publish',
    qos,
    dup: false,
    retain: opts.retain === true,
    topic: opts.topic,
    payload: opts.payload,
    ...(qos > 0 ? { messageId: opts.packetId ?? 1 } : {})
  }, 4)
}

/**
 * Offset of the payload inside an encoded PUBLISH built by {@link encodePublish}
 * (used to patch timestamps into a copy without re-encoding).
 */
export function publishPayloadOffset (buf: Buffer): number {
  let i = 1
  while ((buf[i] as number) & 128) i++
  const start = i + 1
  const qos = ((buf[0] as number) >> 1) & 3
  return start + 2 + buf.readUInt16BE(start) + (qos > 0 ? 2 : 0)
}

/** Offset of the packet id inside an encoded QoS 1/2 PUBLISH. */
export function publishPacketIdOffset (buf: Buffer): number {
  return publishPayloadOffset(buf) - 2
}

/** A 4-byte acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP). */
export function encodeAck (type: number, packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(4)
  writeAck(buf, 0, type, packetId)
  return buf
}

/** Writes a 4-byte acknowledgement at `offset`; returns the next offset. */
export function writeAck (buf: Buffer, offset: number, type: number, packetId: number): number {
  buf[offset] = (type << 4) | (type === T.pubrel ? 2 : 0)
  buf[offset + 1] = 2
  buf[offset + 2] = packetId >> 8
  buf[offset + 3] = packetId & 255
  return offset + 4
}

/** PINGREQ. */
export const PINGREQ = Buffer.from([0xc0, 0])
/** DISCONNECT. */
export const DISCONNECT = Buffer.from([0xe0, 0])
