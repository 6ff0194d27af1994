import { isDeepStrictEqual } from 'node:util'

/**
 * One normalizer for packet objects from @culex/packet and from mqtt-packet, so the two can
 * be compared with deep equality: Buffers become hex strings, user properties plain objects,
 * mqtt-packet's per-packet bookkeeping fields (`length`, and `retain`/`qos`/`dup`/`topic`/
 * `payload` on packets that are not PUBLISH) are dropped.
 */
export function normalize (packet: unknown): unknown {
  const p = canonical(packet) as Record<string, unknown>
  delete p.length
  if (p.cmd !== 'publish') {
    delete p.retain
    delete p.qos
    delete p.dup
    delete p.topic
    delete p.payload
  }
  return p
}

function canonical (v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`
  if (Array.isArray(v)) return v.map(canonical)
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k]
      if (x !== undefined) out[k] = canonical(x)
    }
    return out
  }
  return v
}

/** Deep equality of two normalized packets. */
export function same (a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b)
}
