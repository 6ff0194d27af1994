import t from 'tap'
import { mock } from 'node:test'
import { connect, setup } from './helper.ts'

// Timers run on node's fake clock (node:test MockTimers: setTimeout and Date); streams and
// promises still run for real, so the test lets them settle between clock steps.
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}
const DAY = 86_400_000

t.test('[MQTT-3.1.3-9] a Will Delay longer than the longest timer (~24.8 days) is published at its time, not earlier', async (t) => {
  const broker = setup(t)
  const watch = await connect(t, broker, {})
  await watch.subscribe('will/#', 1)
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() })
  t.teardown(() => { mock.timers.reset() })
  const days30 = 30 * 86_400
  const c = await connect(t, broker, { protocolVersion: 5, clientId: 'long', clean: false, properties: { sessionExpiryInterval: 0xFFFFFFFF }, will: { topic: 'will/long', payload: Buffer.from('bye'), qos: 1, retain: false, properties: { willDelayInterval: days30 } } })
  t.equal(c.connack.reasonCode, 0)
  c.drop()
  await settle()
  mock.timers.tick(25 * DAY) // past 2^31 - 1 ms
  await settle()
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'not published after 25 days')
  mock.timers.tick(5 * DAY - 1000)
  await settle()
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'not published a second before 30 days')
  mock.timers.tick(1000)
  await settle()
  const m = watch.received.find((p) => p.cmd === 'publish')
  t.equal(m?.payload.toString(), 'bye', 'published after 30 days')
})
