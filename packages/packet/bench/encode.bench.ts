/**
 * Encode: the same packet objects through @culex/packet's `encode` and mqtt-packet's
 * `generate`. Both must produce bytes that parse to the same packets before timing (the
 * bytes themselves are identical for these inputs; see the fixture table for the short
 * forms where they are not).
 */
import mqtt from 'mqtt-packet'
import { Parser, encode, type Packet, type ProtocolVersion } from '../src/index.ts'
import { publishes, mix } from './inputs.ts'
import { assertSame, measure, normalize, sink, type Result } from './util.ts'

export interface EncodeCase { name: string, version: ProtocolVersion, packets: Packet[] }

export function encodeCases (): EncodeCase[] {
  const cases: EncodeCase[] = []
  for (const version of [4, 5] as const) {
    for (const size of [16, 256, 4096]) cases.push({ name: `PUBLISH ${size} B`, version, packets: publishes(size, 1000, version) })
    cases.push({ name: 'mix of all types', version, packets: mix(version, 100) })
  }
  return cases
}

/** Normalized JSON of every packet in `bufs` (packets are not kept; see check() in parse.bench.ts). */
function parseAll (bufs: Buffer[], version: ProtocolVersion): string[] {
  const out: string[] = []
  const parser = new Parser({ protocolVersion: version, onPacket: (p) => out.push(JSON.stringify(normalize(p))), onError: (e) => { throw e } })
  for (const b of bufs) parser.parse(b)
  return out
}

export interface EncodeRow { name: string, version: ProtocolVersion, results: Result[], sameBytes: boolean }

export function runEncode (c: EncodeCase): EncodeRow {
  const { packets, version } = c
  const opts = { protocolVersion: version }
  const a = packets.map(p => encode(p, version))
  const b = packets.map(p => mqtt.generate(p as unknown as mqtt.Packet, opts))
  assertSame(`encode ${c.name} v${version}`, parseAll(a, version), parseAll(b, version))
  const sameBytes = Buffer.concat(a).equals(Buffer.concat(b))
  const bytes = a.reduce((n, x) => n + x.length, 0)
  const results = measure([
    {
      name: '@culex/packet',
      run: () => {
        for (let i = 0; i < packets.length; i++) sink.bytes += encode(packets[i] as Packet, version).length
        return packets.length
      }
    },
    {
      name: 'mqtt-packet',
      run: () => {
        for (let i = 0; i < packets.length; i++) sink.bytes += mqtt.generate(packets[i] as unknown as mqtt.Packet, opts).length
        return packets.length
      }
    }
  ], bytes / packets.length)
  return { name: c.name, version, results, sameBytes }
}
