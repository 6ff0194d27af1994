// A 5.0 client that comes back with Clean Start 0 and no Session Expiry Interval resumes its
// session [MQTT-3.1.2-5] through the real culex process on the default level store, after a
// restart: its queued and unacknowledged messages are delivered; the expiry of 0 only applies
// once that connection ends. Skipped, with the reason printed, when @culex/store-level is not built.
import t from 'tap'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startCulex, tempDir } from './helpers/culex.ts'

let levelAvailable = true
try {
  const mod = await import('@culex/store-level') as Record<string, unknown>
  levelAvailable = typeof mod.LevelStore === 'function'
} catch {
  levelAvailable = false
}

t.test('level store: a resume without Session Expiry after a restart gets the queued and the unacknowledged messages', { skip: levelAvailable ? false : '@culex/store-level is not built (npm run build -w @culex/store-level)' }, async t => {
  const dir = tempDir(t)
  const args = ['--store', 'level', '--data-dir', join(dir, 'data')]
  const first = await startCulex(t, args, { cwd: dir })
  const url1 = `mqtt://127.0.0.1:${first.ports.mqtt}`
  const received: string[] = []
  // receives and never acknowledges (MQTT.js sends no PUBACK until done())
  const slow = await mqtt.connectAsync(url1, { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0, clientId: 'no-expiry', customHandleAcks: (_topic, message) => { received.push(message.toString()) } })
  t.teardown(() => { slow.end(true) })
  await slow.subscribeAsync('resume/#', { qos: 1 })
  const pub = await mqtt.connectAsync(url1, { reconnectPeriod: 0 })
  t.teardown(() => { pub.end(true) })
  await pub.publishAsync('resume/x', 'inflight', { qos: 1 })
  const deadline1 = Date.now() + 3000
  while (received.length < 1 && Date.now() < deadline1) await new Promise(resolve => setTimeout(resolve, 20))
  t.same(received, ['inflight'], 'received, not acknowledged')
  slow.end(true)
  await new Promise(resolve => setTimeout(resolve, 100))
  for (let i = 0; i < 3; i++) await pub.publishAsync('resume/x', `q${i}`, { qos: 1 }) // acknowledged: must survive
  pub.end(true)
  first.proc.kill('SIGTERM')
  t.equal((await first.exited).code, 0, 'first process stopped')

  const second = await startCulex(t, args, { cwd: dir })
  const got: string[] = []
  // what Paho's and MQTT.js's 5.0 clients send by default: no Session Expiry Interval property
  const back = mqtt.connect(`mqtt://127.0.0.1:${second.ports.mqtt}`, { protocolVersion: 5, clean: false, reconnectPeriod: 0, clientId: 'no-expiry' })
  t.teardown(() => { back.end(true) })
  back.on('message', (_topic, payload) => got.push(payload.toString()))
  const present = await new Promise<boolean>((resolve, reject) => { back.once('connect', (ack) => { resolve(ack.sessionPresent) }); back.once('error', reject) })
  t.equal(present, true, 'session present')
  const deadline2 = Date.now() + 5000
  while (got.length < 4 && Date.now() < deadline2) await new Promise(resolve => setTimeout(resolve, 50))
  t.same(got, ['inflight', 'q0', 'q1', 'q2'], 'the unacknowledged message, then the queued ones, in order')
  await back.endAsync()
  const again = mqtt.connect(`mqtt://127.0.0.1:${second.ports.mqtt}`, { protocolVersion: 5, clean: false, reconnectPeriod: 0, clientId: 'no-expiry' })
  t.teardown(() => { again.end(true) })
  const presentAgain = await new Promise<boolean>((resolve, reject) => { again.once('connect', (ack) => { resolve(ack.sessionPresent) }); again.once('error', reject) })
  t.equal(presentAgain, false, 'the session ended with the connection that had no expiry')
})
