/**
 * The document codec alone (no server): user properties keep their order as pairs and their
 * shape as an object; documents written before pairs were kept still read.
 */
import t from 'tap'
import type { StoredMessage, WillRecord } from '@culex/broker'
import { messageDoc, messageFrom, willDoc, willFrom } from '../src/codec.ts'

const pairs: Array<[string, string]> = [['2', 'a'], ['k', 'b'], ['10', 'c'], ['1', 'd'], ['k', 'e'], ['$x.y', 'f']]

t.test('pairs round-trip in order; an object keeps its shape', async (t) => {
  const m: StoredMessage = { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, properties: { userProperties: pairs, contentType: 'c' } }
  t.strictSame(messageFrom(messageDoc(m)).properties, { userProperties: pairs, contentType: 'c' })
  const o: StoredMessage = { ...m, properties: { userProperties: { k: ['b', 'e'], z: 'y' } } }
  t.same(messageFrom(messageDoc(o)).properties?.userProperties, { k: ['b', 'e'], z: 'y' })
  const w: WillRecord = { clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.from('w'), qos: 1, retain: false, properties: { userProperties: pairs } }
  t.strictSame(willFrom(willDoc(w)).properties?.userProperties, pairs)
})

t.test('a document of the earlier format (object entries) still reads', async (t) => {
  const doc = { t: 't', p: Buffer.from('x'), q: 0, r: false, pr: { userProperties: [['k', ['b', 'e']], ['z', 'y']] } }
  t.same(messageFrom(doc).properties?.userProperties, { k: ['b', 'e'], z: 'y' })
})

t.test('every field round-trips, binary data as the driver returns it, absent and null fields', async (t) => {
  const m: StoredMessage = { topic: 't', payload: Buffer.from('x'), qos: 2, retain: true, expiresAt: 123, origin: 'pub', properties: { correlationData: Buffer.from('cd'), contentType: 'c' } }
  const doc = messageDoc(m)
  t.strictSame(messageFrom(doc), m, 'a message with every field')
  // the driver may return binary data as { buffer }
  const asDriver = { ...doc, p: { buffer: new Uint8Array([120]) }, pr: { ...(doc.pr as object), correlationData: { buffer: new Uint8Array([99, 100]) } } }
  t.strictSame(messageFrom(asDriver), m, 'binary data from the driver becomes Buffers')
  const bare: StoredMessage = { topic: 't', payload: Buffer.from('x'), qos: 0, retain: false }
  t.strictSame(messageFrom(messageDoc(bare)), bare, 'a message with no optional field')
  t.strictSame(messageFrom({ t: 't', p: Buffer.from('x'), q: 0, r: false, pr: null, e: null, o: null }), bare, 'null fields read as absent')
  t.strictSame(messageFrom({ t: 't', p: Buffer.from('x'), q: 0, r: false, pr: { userProperties: null, up: null } }).properties, {}, 'null user properties read as none')
  const w: WillRecord = { clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.from('w'), qos: 1, retain: true, publishAt: 456, properties: { correlationData: Buffer.from('z'), willDelayInterval: 5 } }
  t.strictSame(willFrom(willDoc(w)), w, 'a will with every field')
  const wb: WillRecord = { clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.from('w'), qos: 0, retain: false }
  t.strictSame(willFrom(willDoc(wb)), wb, 'a will with no optional field')
  t.strictSame(willFrom({ ...willDoc(wb), pr: null, a: null }), wb, 'null will fields read as absent')
})
