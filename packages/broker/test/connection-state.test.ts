/**
 * A connection keeps its state private: outside code (an app holding the Client, a hook)
 * reads what the Client view shows and changes nothing but through the connection's own
 * steps. Handlers and the engine use those steps too (see src/handlers/ports.ts).
 */
import t from 'tap'
import { Connection } from '../src/connection.ts'
import type { Client } from '../src/index.ts'
import { connect, duplexPair, setup } from './helper.ts'

t.test('a connection has no public mutable fields: only what it was made with', async (t) => {
  const broker = setup(t)
  const [server] = duplexPair()
  const c = broker.handle(server)
  t.ok(c instanceof Connection)
  // before: id, protocolVersion, username, keepalive, state, will, expiry, inUnacked,
  // ackTail, flowPaused, pendingAddr… were all own writable properties
  t.same(Object.keys(c).sort(), ['broker', 'engine', 'stream'])
  c.close()
})

t.test('the state a Client shows cannot be changed from outside', async (t) => {
  const fields = ['id', 'protocolVersion', 'username', 'keepalive', 'state', 'will', 'expiry', 'expiryRequested',
    'authMethod', 'reauthenticating', 'maxOut', 'inUnacked', 'ackTail', 'flowPaused', 'disconnectReason']
  t.plan(4 + fields.length * 3)
  const broker = setup(t)
  let seen: Client | null = null
  broker.on('client', (c) => { seen = c })
  const client = await connect(t, broker, { clientId: 'private-state', protocolVersion: 5, keepalive: 30, username: 'u' })
  t.equal(client.connack.reasonCode, 0)
  const c = seen! as Client & Record<string, unknown>
  for (const f of fields) {
    const d = Object.getOwnPropertyDescriptor(Connection.prototype, f)
    t.ok(d !== undefined && d.get !== undefined && d.set === undefined, `${f} is a getter without a setter`)
    const before = c[f]
    t.throws(() => { c[f] = 12345 }, TypeError, `${f} cannot be assigned`)
    t.equal(c[f], before, `${f} unchanged`)
  }
  t.equal(c.id, 'private-state')
  t.equal(c.keepalive, 30)
  // the connection still works after the refused writes
  const sub = await client.subscribe('a/b', 1)
  t.same(sub.granted, [1])
  client.stream.end()
})
