/**
 * Parse: the same byte stream, cut into the same chunks, through @culex/packet's Parser and
 * mqtt-packet's parser. Both must deliver the same packets before anything is timed.
 */
import mqtt from 'mqtt-packet'
import { Parser, encode, type Packet, type ProtocolVersion } from '../src/index.ts'
import { publishes, mix } from './inputs.ts'
import { assertSame, chunk, measure, normalize, sink, type Result } from './util.ts'

export interface ParseCase { name: string, version: ProtocolVersion, chunkSize: number, packets: Packet[] }

export function parseCases (): ParseCase[] {
  const cases: ParseCase[] = []
  for (const version of [4, 5] as const) {
    for (const size of [16, 256, 4096]) {
      // ~4 MB of stream per case, at least 500 packets
      const count = Math.max(500, Math.floor(4_000_000 / (size + 60)))
      for (const chunkSize of [65536, 1460]) {
        cases.push({ name: `PUBLISH ${size} B`, version, chunkSize, packets: publishes(size, count, version) })
      }
    }
    for (const chunkSize of [65536, 1460]) cases.push({ name: 'mix of all types', version, chunkSize, packets: mix(version, 2000) })
  }
  return cases
}

function ours (chunks: Buffer[], version: ProtocolVersion): number {
  let n = 0
  const parser = new Parser({
    protocolVersion: version,
    onPacket: (p) => { n++; sink.last = p },
    onError: (e) => { throw e }
  })
  for (const c of chunks) parser.parse(c)
  return n
}

function theirs (chunks: Buffer[], version: ProtocolVersion): number {
  let n = 0
  const parser = mqtt.parser({ protocolVersion: version })
  parser.on('packet', (p: unknown) => { n++; sink.last = p })
  parser.on('error', (e: Error) => { throw e })
  for (const c of chunks) parser.parse(c)
  return n
}

export interface ParseRow { name: string, version: ProtocolVersion, chunkSize: number, results: Result[], payloadViews: string }

export function runParse (c: ParseCase): ParseRow {
  const stream = Buffer.concat(c.packets.map(p => encode(p, c.version)))
  const chunks = chunk(stream, c.chunkSize)
  const payloadViews = check(c, chunks)
  const results = measure([
    { name: '@culex/packet', run: () => ours(chunks, c.version) },
    { name: 'mqtt-packet', run: () => theirs(chunks, c.version) }
  ], stream.length / c.packets.length)
  return { name: c.name, version: c.version, chunkSize: c.chunkSize, results, payloadViews }
}

/**
 * Both parsers must deliver the same packets. Returns "views/publishes": how many PUBLISH
 * payloads are views into an input chunk (all but those of packets spanning two chunks).
 *
 * Packets are turned into normalized JSON at once and not kept: keeping 50 000 packets
 * alive here made V8 pretenure the parser's packet allocation sites (allocate them straight
 * into old space), which cut the timed parse from 4.7 M to 1.9 M pkt/s (16 B PUBLISH, v4) —
 * a property of this check, not of the parser.
 */
function check (c: ParseCase, chunks: Buffer[]): string {
  const a: string[] = []
  const b: string[] = []
  const chunkBuffers = new Set(chunks.map(ch => ch.buffer))
  let pubs = 0
  let views = 0
  const parser = new Parser({
    protocolVersion: c.version,
    onPacket: (p) => {
      if (p.cmd === 'publish') {
        pubs++
        if (chunkBuffers.has(p.payload.buffer)) views++
      }
      a.push(JSON.stringify(normalize(p)))
    },
    onError: (e) => { throw e }
  })
  for (const ch of chunks) parser.parse(ch)
  const theirParser = mqtt.parser({ protocolVersion: c.version })
  theirParser.on('packet', (p: unknown) => b.push(JSON.stringify(normalize(p))))
  theirParser.on('error', (e: Error) => { throw e })
  for (const ch of chunks) theirParser.parse(ch)
  assertSame(`parse ${c.name} v${c.version} ${kb(c.chunkSize)}`, a, b)
  return `${views}/${pubs}`
}

const kb = (n: number): string => `${n} B chunks`
