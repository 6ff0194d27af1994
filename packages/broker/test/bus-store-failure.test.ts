import t from 'tap'
import { Broker, MemoryStore } from '../src/index.ts'
import { connect, pairBus } from './helper.ts'

t.test('a store failure while routing a message from the bus is reported, not an unhandled rejection', async (t) => {
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const [busA, busB] = pairBus()
  const failing = new MemoryStore()
  failing.enqueue = async () => { throw new Error('disk full') }
  const a = new Broker({ bus: busA, sysInterval: 0 })
  const b = new Broker({ bus: busB, sysInterval: 0, store: failing })
  t.teardown(async () => { await a.close(); await b.close() })
  const errors: string[] = []
  b.on('error', (err) => { errors.push(err.code) })
  // a connected persistent session: its deliveries are written to the store (persistInflight)
  const subs = [
    await connect(t, b, { clientId: 'p1', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } }),
    await connect(t, b, { clientId: 'p2', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  ]
  for (const sub of subs) await sub.subscribe('bus/#', 1)
  const pub = await connect(t, a, {})
  pub.publish('bus/x', 'across', 1)
  await pub.next('puback')
  for (const sub of subs) t.equal((await sub.next('publish')).payload.toString(), 'across', 'delivered on the other node')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(unhandled, [], 'no unhandled rejection')
  t.ok(errors.length > 0 && errors.every((code) => code === 'BROKER_ERR_STORE'), 'reported as a store error')
})
