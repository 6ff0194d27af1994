import t from 'tap'
import { connect, setup } from './helper.ts'
import { FakeClock, settle } from './fake-clock.ts'

// Timers run on a fake clock (the broker option `clock`); streams and promises still run for
// real: clock.tick lets them settle after each timer; days are skipped with clock.advance
// (the keepalive sweep runs every second meanwhile) and settled once.
const DAY = 86_400_000

t.test('[MQTT-3.1.3-9] a Will Delay longer than the longest timer (~24.8 days) is published at its time, not earlier', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const watch = await connect(t, broker, {})
  await watch.subscribe('will/#', 1)
  const days30 = 30 * 86_400
  const c = await connect(t, broker, { protocolVersion: 5, clientId: 'long', clean: false, properties: { sessionExpiryInterval: 0xFFFFFFFF }, will: { topic: 'will/long', payload: Buffer.from('bye'), qos: 1, retain: false, properties: { willDelayInterval: days30 } } })
  t.equal(c.connack.reasonCode, 0)
  c.drop()
  await clock.tick(0)
  clock.advance(25 * DAY) // past 2^31 - 1 ms
  await settle()
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'not published after 25 days')
  clock.advance(5 * DAY - 1)
  await settle()
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'not published 1 ms before 30 days')
  await clock.tick(1)
  const m = watch.received.find((p) => p.cmd === 'publish')
  t.equal(m?.payload.toString(), 'bye', 'published at 30 days')
})

t.test('[MQTT-3.1.3-9] a Will Delay is published at its exact time, and a reconnect before it cancels it', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const watch = await connect(t, broker, {})
  await watch.subscribe('will/#', 1)
  const will = { topic: 'will/d', payload: Buffer.from('late'), qos: 1, retain: false, properties: { willDelayInterval: 5 } }
  const opts = { protocolVersion: 5 as const, clientId: 'd', clean: false, properties: { sessionExpiryInterval: 60 }, will }
  const a = await connect(t, broker, opts)
  a.drop()
  await clock.tick(4999)
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'not published at 4999 ms')
  const b = await connect(t, broker, opts)
  t.equal(b.connack.sessionPresent, true)
  await clock.tick(10_000)
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'the reconnect cancelled it')
  b.drop()
  await clock.tick(4999)
  t.notOk(watch.received.some((p) => p.cmd === 'publish'), 'the new will waits its own 5 s')
  await clock.tick(1)
  t.equal(watch.received.find((p) => p.cmd === 'publish')?.payload.toString(), 'late', 'published at 5000 ms')
})
