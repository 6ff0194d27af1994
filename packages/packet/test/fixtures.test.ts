import t from 'tap'
import { Parser, encode, encodedLength, type Packet, type PacketError, type ProtocolVersion } from '../src/index.ts'
import { rows } from './fixtures/packets.ts'
import { errorRows } from './fixtures/errors.ts'

function parseAll (chunks: Buffer[], version: ProtocolVersion, maxPacketSize?: number): { packets: Packet[], errors: PacketError[] } {
  const packets: Packet[] = []
  const errors: PacketError[] = []
  const parser = new Parser({
    protocolVersion: version,
    ...(maxPacketSize === undefined ? {} : { maxPacketSize }),
    onPacket: (p) => packets.push(p),
    onError: (e) => errors.push(e)
  })
  for (const c of chunks) parser.parse(c)
  return { packets, errors }
}

const bytesOf = (buf: Buffer): Buffer[] => Array.from(buf, (x) => Buffer.from([x]))

for (const row of rows) {
  t.test(row.name, async (t) => {
    const bytes = Buffer.from(row.hex, 'hex')
    const whole = parseAll([bytes], row.version)
    t.same(whole.errors, [], 'no error')
    t.same(whole.packets, [row.packet], 'parse')
    t.equal(encode(row.packet, row.version).toString('hex'), row.hex, 'encode')
    t.equal(encodedLength(row.packet, row.version), bytes.length, 'encodedLength')
    t.same(parseAll([encode(whole.packets[0] as Packet, row.version)], row.version).packets, [row.packet], 'round trip')
    const split = parseAll(bytesOf(bytes), row.version)
    t.same(split.errors, [], 'byte by byte: no error')
    t.same(split.packets, [row.packet], 'byte by byte')
  })
}

t.test('all rows of one version as one stream, cut at every offset', async (t) => {
  for (const version of [3, 4, 5] as const) {
    const mine = rows.filter(r => r.version === version && r.packet.cmd !== 'connect')
    const stream = Buffer.concat(mine.map(r => Buffer.from(r.hex, 'hex')))
    for (let cut = 0; cut <= stream.length; cut++) {
      const res = parseAll([stream.subarray(0, cut), stream.subarray(cut)], version)
      if (res.errors.length > 0 || res.packets.length !== mine.length) {
        t.fail(`cut at ${cut} of version ${version}`)
        return
      }
    }
    t.pass(`version ${version}: ${stream.length + 1} cuts`)
  }
})

for (const row of errorRows) {
  t.test(`error: ${row.name}`, async (t) => {
    const bytes = Buffer.from(row.hex.replaceAll(' ', ''), 'hex')
    for (const chunks of [[bytes], bytesOf(bytes)]) {
      const res = parseAll(chunks, row.version, row.maxPacketSize)
      t.equal(res.errors.length, 1, 'exactly one error')
      t.same(res.packets, [], 'no packet')
      t.equal(res.errors[0]?.code, row.code, 'code')
      t.equal(res.errors[0]?.reasonCode, row.reasonCode, 'reasonCode')
    }
  })
}
