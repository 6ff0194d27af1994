/**
 * Bridges with culex in the test's own process (so the bridge's code counts toward the
 * app's coverage), against a real Mosquitto: the local session across a remote outage, a
 * remote message culex cannot take, a mapping removed from the config while its messages
 * wait in the session; and a plugin's routes and listener in process.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { once } from 'node:events'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect } from '@culex/client'
import { startInProcess } from './helpers/in-process.ts'
import { tempDir } from './helpers/culex.ts'
import { startMosquitto, mosquittoMissing } from './helpers/mosquitto.ts'
import { request } from './helpers/http.ts'
import { client, until, collect } from './helpers/bridge.ts'

const bridgeConfig = (murl: string, topics: unknown[]): string => JSON.stringify({ bridges: [{ name: 'r', url: murl, reconnect: { initialDelay: 50, maxDelay: 200 }, topics }] })

t.test('in process: out messages wait in the local session while the remote is down; a remote topic culex cannot take is dropped and counted', { skip: mosquittoMissing }, async (t) => {
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  const remote = await client(t, murl, { clientId: 'rsub', clean: false, properties: { sessionExpiryInterval: 600 } })
  const remoteGot = collect(remote)
  await remote.subscribe('site/#', { qos: 1 })
  const dir = tempDir(t)
  writeFileSync(join(dir, 'culex.json'), bridgeConfig(murl, [
    { pattern: 'up/#', direction: 'out', qos: 1, remotePrefix: 'site/' },
    { pattern: 'down/#', direction: 'in', qos: 1, localPrefix: 'hq/' }
  ]))
  const { server, ports, logs } = await startInProcess(t, ['--config', 'culex.json', '--store', 'level', '--data-dir', 'data', '--max-topic-levels', '4'], dir)
  const local = await client(t, `mqtt://127.0.0.1:${ports.mqtt}`)
  const localGot = collect(local)
  await local.subscribe('hq/#', { qos: 1 })
  await until(() => logs.some(l => l.msg === 'bridge r: connected'), 10_000, 'the bridge to connect')

  // in: a topic with more levels than this culex takes is acknowledged to the remote and dropped
  const rpub = await client(t, murl)
  await rpub.publish('down/a/b/c', 'too deep', { qos: 1 })
  await until(() => logs.some(l => l.msg === 'bridge r: message from the remote not publishable here, dropped'), 10_000, 'the drop')
  t.match(logs.find(l => l.msg === 'bridge r: message from the remote not publishable here, dropped'), { topic: 'hq/down/a/b/c' })
  for (let i = 0; !localGot.some(m => m.topic === 'hq/down/ok'); i++) {
    if (i > 100) throw new Error('hq/down/ok never arrived')
    await rpub.publish('down/ok', 'fine', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.pass('the in mapping carries on after the drop')

  // out: the remote goes down; what is published meanwhile waits in the session
  await mosq.stop()
  await until(() => logs.some(l => l.msg === 'bridge r: disconnected, reconnecting'), 10_000, 'the disconnection')
  for (let i = 0; i < 30; i++) await local.publish(`up/${i % 3}`, String(i), { qos: 1 })
  await mosq.start()
  await until(() => remoteGot.filter(m => m.topic.startsWith('site/up/')).length >= 30, 20_000, 'the queued messages at the remote')
  const nums = new Set(remoteGot.filter(m => m.topic.startsWith('site/up/')).map(m => Number(m.payload.toString())))
  t.equal(nums.size, 30, 'all 30 published while the remote was down arrived')
  await server.close()
  t.ok(logs.some(l => l.msg === 'culex broker started'))
})

t.test('in process: messages of a mapping removed from the config are acknowledged and not sent', { skip: mosquittoMissing }, async (t) => {
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  const remote = await client(t, murl)
  const remoteGot = collect(remote)
  await remote.subscribe('#', { qos: 1 })
  const dir = tempDir(t)
  writeFileSync(join(dir, 'a.json'), bridgeConfig(murl, [{ pattern: 'up/#', direction: 'out', qos: 1 }, { pattern: 'old/#', direction: 'out', qos: 1 }]))
  writeFileSync(join(dir, 'b.json'), bridgeConfig(murl, [{ pattern: 'up/#', direction: 'out', qos: 1 }]))
  const args = ['--store', 'level', '--data-dir', 'data']
  const first = await startInProcess(t, ['--config', 'a.json', ...args], dir)
  await until(() => first.logs.some(l => l.msg === 'bridge r: connected'), 10_000, 'the bridge to connect')
  await first.server.close()

  const second = await startInProcess(t, ['--config', 'b.json', ...args], dir)
  await until(() => second.logs.some(l => l.msg === 'bridge r: connected'), 10_000, 'the bridge to connect again')
  const pub = await client(t, `mqtt://127.0.0.1:${second.ports.mqtt}`)
  await pub.publish('old/x', 'stale mapping', { qos: 1 })
  await pub.publish('up/x', 'current mapping', { qos: 1 })
  await until(() => remoteGot.some(m => m.topic === 'up/x'), 10_000, 'up/x at the remote')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.notOk(remoteGot.some(m => m.topic === 'old/x'), 'old/x (matched by the session\'s old subscription) is not sent')
  await second.server.close()
})

t.test('in process: a mapping added while messages wait for a remote that is down is subscribed before culex is ready', { skip: mosquittoMissing }, async (t) => {
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  const remote = await client(t, murl, { clientId: 'rsub3', clean: false, properties: { sessionExpiryInterval: 600 } })
  const remoteGot = collect(remote)
  await remote.subscribe('#', { qos: 1 })
  await mosq.stop()
  const dir = tempDir(t)
  writeFileSync(join(dir, 'a.json'), bridgeConfig(murl, [{ pattern: 'up/#', direction: 'out', qos: 1 }]))
  writeFileSync(join(dir, 'b.json'), bridgeConfig(murl, [{ pattern: 'up/#', direction: 'out', qos: 1 }, { pattern: 'new/#', direction: 'out', qos: 1 }]))
  const args = ['--store', 'level', '--data-dir', 'data']
  const first = await startInProcess(t, ['--config', 'a.json', ...args], dir)
  const pub = await connect(`mqtt://127.0.0.1:${first.ports.mqtt}`, { reconnect: false })
  for (let i = 0; i < 5; i++) await pub.publish('up/x', String(i), { qos: 1 })
  await pub.end()
  await first.server.close()

  // restarted with one more mapping; the remote is still down and the session has messages
  const second = await startInProcess(t, ['--config', 'b.json', ...args], dir)
  const pub2 = await client(t, `mqtt://127.0.0.1:${second.ports.mqtt}`)
  await pub2.publish('new/y', 'added', { qos: 1 })
  await mosq.start()
  await until(() => remoteGot.some(m => m.topic === 'new/y') && remoteGot.filter(m => m.topic === 'up/x').length >= 5, 20_000, 'the queued messages at the remote')
  t.same(new Set(remoteGot.filter(m => m.topic === 'up/x').map(m => m.payload.toString())), new Set(['0', '1', '2', '3', '4']), 'what waited from the first run arrived')
  t.pass('a message of the added mapping, published while the remote was down, arrived')
  await second.server.close()
})

t.test('in process: a plugin\'s routes and listener with the operator listener', async (t) => {
  const dir = tempDir(t)
  const example = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'line-ingest.mjs')
  writeFileSync(join(dir, 'culex.yaml'), `plugins:\n  - module: ${JSON.stringify(example)}\n`)
  const { server, ports, logs } = await startInProcess(t, ['--config', 'culex.yaml', '--http-port', '0', '--http-token', 'plugin-test-token-0123456789'], dir)
  const auth = 'Bearer plugin-test-token-0123456789'
  t.equal((await request(ports.http!, '/line-ingest/stats')).status, 401)
  const stats = await request(ports.http!, '/line-ingest/stats', { auth })
  t.equal(stats.status, 200)
  t.same(stats.json(), { published: 0, refused: 0, askedBy: null }, 'a token has no username')
  t.equal((await request(ports.http!, '/line-ingest/ping', { method: 'DELETE' })).status, 405, 'a public path with another method: 405 without credentials')
  const port = logs.find(l => typeof l.msg === 'string' && l.msg.startsWith('line-ingest listening'))!.port as number
  const s = net.connect(port, '127.0.0.1')
  await once(s, 'connect')
  s.setEncoding('utf8')
  s.write('x/y 1\n')
  const [answer] = await once(s, 'data') as [string]
  t.equal(answer, 'ok\n')
  const closed = once(s, 'close')
  await server.close()
  await closed
  t.ok(logs.some(l => l.msg === 'line-ingest listener closed'))
})

t.test('in process: plugin routes without the operator listener are not served, and say so', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'r.mjs'), 'export default () => ({ name: "r", routes: [{ path: "/r", handler (req, res) { res.end() } }] })\n')
  writeFileSync(join(dir, 'culex.yaml'), 'plugins:\n  - ./r.mjs\n')
  const { server, logs } = await startInProcess(t, ['--config', 'culex.yaml'], dir)
  t.match(logs.find(l => typeof l.msg === 'string' && l.msg.startsWith('plugin HTTP routes are not served')), { level: 40, plugins: ['r'] })
  await server.close()
})
