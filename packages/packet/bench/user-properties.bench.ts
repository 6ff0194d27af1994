/**
 * `npx tsx --expose-gc bench/user-properties.bench.ts [baseline/index.ts]`: parse and encode
 * of a 5.0 PUBLISH with a few user properties, in both shapes (object, pairs). With a path to
 * another copy of `src/index.ts` (e.g. an older version checked out elsewhere), that copy is
 * measured in the same run as a baseline.
 */
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import * as current from '../src/index.ts'
import { measure, sink, type Contestant } from './util.ts'

type Codec = Pick<typeof current, 'Parser' | 'encode'>

const up = { trace: 'abc-123', tenant: 'acme', hop: ['1', '2'] }
const pairs: current.UserPropertyPairs = [['trace', 'abc-123'], ['tenant', 'acme'], ['hop', '1'], ['hop', '2']]
const TOPIC = 'sensors/building-7/floor-3/room-12/temperature'
const publish = (userProperties: current.UserProperties): current.Packet =>
  ({ cmd: 'publish', topic: TOPIC, payload: Buffer.alloc(64, 1), qos: 1, messageId: 42, dup: false, retain: false, properties: { contentType: 'application/json', userProperties } })
const N = 1000

function parseRun (codec: Codec, shape: 'object' | 'pairs' | undefined, bytes: Buffer): Contestant['run'] {
  const opts = shape === undefined ? {} : { userProperties: shape }
  return () => {
    const parser = new codec.Parser({ protocolVersion: 5, ...opts, onPacket: (p) => { sink.last = p; sink.packets++ } })
    parser.parse(bytes)
    return N
  }
}

function encodeRun (codec: Codec, p: current.Packet): Contestant['run'] {
  return () => {
    for (let i = 0; i < N; i++) sink.bytes += codec.encode(p, 5).length
    return N
  }
}

const baselinePath = process.argv[2]
const baseline = baselinePath === undefined ? undefined : await import(pathToFileURL(resolve(baselinePath)).href) as Codec
const one = current.encode(publish(pairs), 5)
const stream = Buffer.concat(Array.from({ length: N }, () => one))
const fmt = (n: number): string => `${(n / 1e6).toFixed(2)} M`

const parse: Contestant[] = []
if (baseline !== undefined) parse.push({ name: 'baseline, object', run: parseRun(baseline, undefined, stream) })
parse.push({ name: 'object', run: parseRun(current, undefined, stream) }, { name: 'pairs', run: parseRun(current, 'pairs', stream) })
const encode: Contestant[] = []
if (baseline !== undefined) encode.push({ name: 'baseline, object', run: encodeRun(baseline, publish(up)) })
encode.push({ name: 'object', run: encodeRun(current, publish(up)) }, { name: 'pairs', run: encodeRun(current, publish(pairs)) })

console.log(`node ${process.version}; 5.0 PUBLISH, ${one.length} B, 4 user properties + content type`)
console.log('| op | shape | pkt/s |')
console.log('|---|---|---|')
// Two rounds over all contestants (A B C A B C): the first warms every code path; the second
// is reported, so that no contestant pays for being measured first.
for (const [op, cs] of [['parse', parse], ['encode', encode]] as const) {
  for (const r of measure([...cs, ...cs], one.length).slice(cs.length)) console.log(`| ${op} | ${r.name} | ${fmt(r.packetsPerSec)} ±${r.rsd.toFixed(1)}% |`)
}
