import t from 'tap'
import { MemoryStore, type BrokerError } from '../src/index.ts'
import { connect, setup } from './helper.ts'

function failingStore (): MemoryStore {
  const store = new MemoryStore()
  store.enqueue = async () => { throw new Error('disk full') }
  return store
}

t.test('a store failure before an ack: 5.0 PUBACK 0x80, 3.1.1 disconnect; error event emitted', async (t) => {
  const logged: string[] = []
  const broker = setup(t, {
    store: failingStore(),
    logger: { debug () {}, info () {}, warn () {}, error (_o: unknown, msg?: string) { logged.push(msg ?? '') } }
  })
  const errors: BrokerError[] = []
  broker.on('error', (e) => errors.push(e))
  const off = await connect(t, broker, { clientId: 'off', clean: false })
  await off.subscribe('f', 1)
  off.disconnect()
  await off.closed()
  const c5 = await connect(t, broker, { protocolVersion: 5 })
  c5.publish('f', 'x', 1)
  t.equal((await c5.next('puback')).reasonCode, 0x80)
  const c4 = await connect(t, broker, {})
  c4.publish('f', 'x', 1)
  await c4.closed()
  t.ok(errors.length >= 2)
  t.equal(errors[0]!.code, 'BROKER_ERR_STORE')
  t.ok(logged.includes('store error'))
})

t.test('acks stay in order when one waits for the store [MQTT-4.6.0-2]', async (t) => {
  const store = new MemoryStore()
  const enqueue = store.enqueue.bind(store)
  store.enqueue = async (...args) => {
    await new Promise((resolve) => setTimeout(resolve, 30))
    return enqueue(...args)
  }
  const broker = setup(t, { store })
  const off = await connect(t, broker, { clientId: 'o2', clean: false })
  await off.subscribe('slow', 1)
  off.disconnect()
  await off.closed()
  const c = await connect(t, broker, {})
  const a = c.publish('slow', 'x', 1)
  const b = c.publish('fast', 'y', 1)
  c.publish('fast', 'z', 0)
  t.same([(await c.next('puback')).messageId, (await c.next('puback')).messageId], [a, b])
})
