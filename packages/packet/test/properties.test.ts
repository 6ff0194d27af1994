/**
 * Property-based tests (fast-check). `npm test` runs a fixed number of runs; `npm run fuzz`
 * runs the same properties on a time budget (FUZZ_SECONDS).
 */
import t from 'tap'
import fc from 'fast-check'
import { runs } from './runs.ts'
import { Parser, encode, encodedLength, type Packet, type PacketError, type ProtocolVersion } from '../src/index.ts'
import { packet, version } from './arbitraries.ts'
import { rows } from './fixtures/packets.ts'
import { normalize, same } from './normalize.ts'

function run (chunks: Buffer[], v: ProtocolVersion): { packets: Packet[], errors: PacketError[] } {
  const packets: Packet[] = []
  const errors: PacketError[] = []
  const parser = new Parser({ protocolVersion: v, onPacket: (p) => packets.push(p), onError: (e) => errors.push(e) })
  for (const c of chunks) parser.parse(c)
  return { packets, errors }
}

t.test('parse(encode(p)) equals p, every type and version', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(version.chain(v => fc.tuple(fc.constant(v), packet(v))), ([v, p]) => {
    const bytes = encode(p, v)
    if (encodedLength(p, v) !== bytes.length) return false
    const res = run([bytes], v)
    return res.errors.length === 0 && res.packets.length === 1 && same(normalize(res.packets[0]), normalize(p))
  }), runs(1500)), 'round trip holds')
})

t.test('any split of a stream gives the same packets', async (t) => {
  const arb = version.chain(v => fc.tuple(
    fc.constant(v),
    fc.array(packet(v, false), { minLength: 1, maxLength: 8 }),
    fc.array(fc.nat(), { maxLength: 12 })
  ))
  t.doesNotThrow(() => fc.assert(fc.property(arb, ([v, packets, cutsRaw]) => {
    const stream = Buffer.concat(packets.map(p => encode(p, v)))
    const cuts = [...new Set(cutsRaw.map(c => c % (stream.length + 1)))].sort((a, b) => a - b)
    const chunks: Buffer[] = []
    let last = 0
    for (const c of cuts) { chunks.push(stream.subarray(last, c)); last = c }
    chunks.push(stream.subarray(last))
    const whole = run([stream], v)
    const split = run(chunks, v)
    return split.errors.length === 0 && whole.packets.length === packets.length &&
      same(split.packets.map(normalize), whole.packets.map(normalize)) && same(whole.packets.map(normalize), packets.map(normalize))
  }), runs(800)), 'splitting holds')
})

/** Feeds bytes, checks the outcome: packets, then at most one error, nothing thrown. */
function survives (bytes: Buffer, v: ProtocolVersion, chunkSize: number): boolean {
  let errors = 0
  let afterError = 0
  const parser = new Parser({
    protocolVersion: v,
    maxPacketSize: 4096, // random lengths must not make the test buffer megabytes
    onPacket: () => { if (errors > 0) afterError++ },
    onError: () => { errors++ }
  })
  for (let i = 0; i < bytes.length; i += chunkSize) parser.parse(bytes.subarray(i, i + chunkSize))
  return errors <= 1 && afterError === 0 && parser.failed === (errors === 1)
}

t.test('random bytes end in packets or exactly one error, never a throw', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(version, fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 16 }), (v, a, size) =>
    survives(Buffer.from(a), v, size)), runs(2000)), 'random bytes handled')
})

t.test('mutated valid streams end in packets or exactly one error, never a throw', async (t) => {
  const seeds = rows.map(r => ({ v: r.version, bytes: Buffer.from(r.hex, 'hex') }))
  const arb = fc.tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
    fc.integer({ min: 1, max: 8 })
  )
  t.doesNotThrow(() => fc.assert(fc.property(arb, ([seed, mutations, size]) => {
    const bytes = Buffer.from(seed.bytes)
    for (const [at, value] of mutations) bytes[at % bytes.length] = value
    return survives(bytes, seed.v, size)
  }), runs(2000)), 'mutations handled')
})
