import t from 'tap'
import {
  messageFromHead, messageHead, packRecord, packWill, unpackRecord, willFromRecord,
  type RecordMessage as StoredMessage, type RecordWill as WillRecord
} from '../src/record.ts'

t.test('a message round-trips byte for byte, payload raw after the header', async (t) => {
  const payload = Buffer.from([0, 1, 2, 0xff, 0xfe])
  const m: StoredMessage = {
    topic: 'a/b',
    payload,
    qos: 1,
    retain: true,
    properties: { correlationData: Buffer.from([9, 0, 9]), userProperties: { k: ['v1', 'v2'] }, contentType: 'x/y' },
    expiresAt: 1234,
    origin: 'pub'
  }
  const buf = packRecord(messageHead(m), m.payload)
  const n = buf.readUInt32BE(0)
  t.equal(buf.length, 4 + n + payload.length, 'exactly sized')
  t.same(buf.subarray(4 + n), payload, 'payload stored raw at the end')
  const r = unpackRecord(buf)
  t.ok(r)
  t.same(messageFromHead(r!.head, r!.payload), m)
  const bare: StoredMessage = { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false }
  const r2 = unpackRecord(packRecord(messageHead(bare), bare.payload))!
  t.same(messageFromHead(r2.head, r2.payload), bare, 'no optional fields appear')
})

t.test('user properties as [name, value] pairs keep their order, integer-like and repeated names too', async (t) => {
  const userProperties: Array<[string, string]> = [['2', 'a'], ['k', 'b'], ['10', 'c'], ['1', 'd'], ['k', 'e']]
  const m: StoredMessage = { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, properties: { userProperties } }
  const r = unpackRecord(packRecord(messageHead(m), m.payload))!
  t.strictSame(messageFromHead(r.head, r.payload).properties?.userProperties, userProperties)
  const w: WillRecord = { clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.from('bye'), qos: 1, retain: false, properties: { userProperties } }
  t.strictSame(willFromRecord(unpackRecord(packWill(w))!).properties?.userProperties, userProperties)
})

t.test('a will round-trips with and without its optional fields', async (t) => {
  const w: WillRecord = { clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.from('bye'), qos: 2, retain: true, properties: { willDelayInterval: 5, correlationData: Buffer.from([1]) }, publishAt: 99 }
  t.same(willFromRecord(unpackRecord(packWill(w))!), w)
  const bare: WillRecord = { clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.alloc(0), qos: 0, retain: false }
  t.same(willFromRecord(unpackRecord(packWill(bare))!), bare)
})

t.test('bytes that are not a record give null, never a throw', async (t) => {
  const header = (len: number, json: string): Buffer => {
    const h = Buffer.from(json)
    const b = Buffer.alloc(4 + h.length)
    b.writeUInt32BE(len, 0)
    h.copy(b, 4)
    return b
  }
  t.equal(unpackRecord(Buffer.from([0, 0])), null, 'shorter than the length prefix')
  t.equal(unpackRecord(header(100, '{}')), null, 'header length past the end')
  t.equal(unpackRecord(header(3, '{x}')), null, 'header not JSON')
  t.equal(unpackRecord(header(4, 'null')), null, 'header JSON but not an object')
  t.equal(unpackRecord(header(2, '[]')), null, 'header an array')
})

t.test('golden records (test/fixtures/records.ts): written byte for byte, read back whole', async (t) => {
  const { records } = await import('./fixtures/records.ts')
  for (const row of records) {
    const bytes = Buffer.from(row.hex, 'hex')
    if (row.kind === 'message') {
      const m = row.value as unknown as StoredMessage
      t.equal(packRecord(messageHead(m), m.payload).toString('hex'), row.hex, `${row.name}: same bytes`)
      const r = unpackRecord(bytes)!
      t.same(messageFromHead(r.head, r.payload), m, `${row.name}: same message`)
    } else {
      const w = row.value as unknown as WillRecord
      t.equal(packWill(w).toString('hex'), row.hex, `${row.name}: same bytes`)
      t.same(willFromRecord(unpackRecord(bytes)!), w, `${row.name}: same will`)
    }
  }
})
