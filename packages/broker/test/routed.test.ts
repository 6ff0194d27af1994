import t from 'tap'
import { Parser, type Packet, type PublishPacket } from '@culex/packet'
import { Routed } from '../src/routed.ts'

function parse (buf: Buffer): PublishPacket {
  const out: Packet[] = []
  const parser = new Parser({ protocolVersion: 4, onPacket (p) { out.push(p) }, onError (e) { throw e } })
  parser.parse(buf)
  if (out.length !== 1 || out[0]!.cmd !== 'publish') throw new Error(`expected one PUBLISH, got ${out.length}`)
  return out[0] as PublishPacket
}

t.test('take: the first delivery of a wire form gets the shared buffer, later ones a copy with their own id and DUP', async (t) => {
  const m = new Routed('a/b', Buffer.from('hello'), 1, false, undefined, undefined, undefined, true)
  const first = m.take(false, 1, false, 7, true)
  t.equal(first, m.wire(false, 1, false), 'first delivery takes the cached encoding')
  const second = m.take(false, 1, false, 9, false)
  t.not(second, first, 'second delivery gets its own bytes')
  const a = parse(first)
  const b = parse(second)
  t.same([a.messageId, a.dup, a.payload.toString()], [7, true, 'hello'])
  t.same([b.messageId, b.dup, b.payload.toString()], [9, false, 'hello'], 'the copy clears the DUP flag the first delivery set')
  t.equal(parse(first).messageId, 7, 'the first delivery\'s bytes are not touched by later ones')
  const retained = m.take(false, 1, true, 11, false)
  t.not(retained, first, 'another wire form is another buffer')
  t.same([parse(retained).messageId, parse(retained).retain], [11, true])
})
