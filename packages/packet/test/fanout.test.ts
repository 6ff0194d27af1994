import t from 'tap'
import { Parser, encode, encodePublish, withMessageId, type Packet, type ProtocolVersion, type PublishPacket } from '../src/index.ts'

function parse (buf: Buffer, version: ProtocolVersion): Packet[] {
  const out: Packet[] = []
  new Parser({ protocolVersion: version, onPacket: (p) => out.push(p) }).parse(buf)
  return out
}

t.test('encodePublish + withMessageId equal encode with that id, v4 and v5', async (t) => {
  for (const version of [3, 4, 5] as const) {
    const base: PublishPacket = {
      cmd: 'publish',
      qos: 2,
      dup: false,
      retain: true,
      topic: 'a/ü',
      payload: Buffer.alloc(300, 3),
      messageId: 1,
      ...(version === 5 ? { properties: { contentType: 'c', userProperties: { k: 'v' } } } : {})
    }
    const tpl = encodePublish(base, version)
    t.same(tpl.buffer, encode(base, version))
    for (const [id, dup] of [[42, false], [65535, true]] as const) {
      const copy = withMessageId(tpl, id, dup)
      t.same(copy, encode({ ...base, messageId: id, dup }, version), `v${version} id ${id} dup ${String(dup)}`)
      t.same(parse(copy, version), [{ ...base, messageId: id, dup }])
    }
    t.equal(tpl.buffer.readUInt16BE(tpl.messageIdOffset), 1, 'template untouched')
  }
})

t.test('withMessageId clears DUP by default and checks its inputs', async (t) => {
  const tpl = encodePublish({ cmd: 'publish', qos: 1, dup: true, retain: false, topic: 't', payload: Buffer.from('x'), messageId: 9 })
  t.equal(withMessageId(tpl, 3)[0]! & 8, 0)
  t.throws(() => withMessageId(tpl, 0), { code: 'PACKET_ERR_ENCODE_RANGE' })
  const q0 = encodePublish({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 't', payload: Buffer.from('x') }, 5)
  t.equal(q0.messageIdOffset, -1)
  t.throws(() => withMessageId(q0, 1), { code: 'PACKET_ERR_ENCODE_INVALID' })
})
