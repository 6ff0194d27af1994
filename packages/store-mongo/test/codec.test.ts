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
