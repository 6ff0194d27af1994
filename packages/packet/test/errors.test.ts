import t from 'tap'
import { PacketError, PacketErrorCodes, isPacketError } from '../src/index.ts'

t.test('PacketError carries code, reasonCode and cause', async (t) => {
  const cause = new Error('inner')
  const err = new PacketError('PACKET_ERR_VARINT', 'bad', { cause })
  t.equal(err.name, 'PacketError')
  t.equal(err.code, 'PACKET_ERR_VARINT')
  t.equal(err.reasonCode, 0x81)
  t.equal(err.cause, cause)
  t.ok(err instanceof Error)
  t.equal(new PacketError('PACKET_ERR_VARINT', 'x', { reasonCode: 0x82 }).reasonCode, 0x82, 'override')
  t.equal(new PacketError('PACKET_ERR_ENCODE_RANGE', 'x').reasonCode, undefined)
  t.equal(new PacketError('PACKET_ERR_VARINT', 'x').cause, undefined)
})

t.test('isPacketError', async (t) => {
  t.ok(isPacketError(new PacketError('PACKET_ERR_QOS', 'x')))
  t.notOk(isPacketError(new Error('x')))
  t.notOk(isPacketError(null))
  t.notOk(isPacketError('PACKET_ERR_QOS'))
  t.notOk(isPacketError({ code: 'PACKET_ERR_QOS' }))
  t.ok(isPacketError(Object.assign(new Error('x'), { code: 'PACKET_ERR_QOS', [Symbol.for('culex.error')]: 'PacketError' })), 'another copy of the package')
  t.notOk(isPacketError(Object.assign(new Error('x'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'PacketError' })), 'a code of no registry')
})

t.test('every parser code has a reason code, every encoder code has none', async (t) => {
  for (const [code, rc] of Object.entries(PacketErrorCodes)) {
    if (code.startsWith('PACKET_ERR_ENCODE_')) t.equal(rc, undefined, code)
    else t.ok(rc === 0x81 || rc === 0x82 || rc === 0x84 || rc === 0x94 || rc === 0x95, code)
  }
})
