// --ws-path: only that path upgrades; any other gets an HTTP 404 answer, so a client
// pointed at the wrong path learns why instead of seeing a silent close.
import t from 'tap'
import http from 'node:http'
import mqtt from 'mqtt'
import { startCulex } from './helpers/culex.ts'

const culex = await startCulex(t, ['--ws-port', '0', '--ws-path', '/mqtt', '--sys-interval', '0'])
const port = culex.ports.ws!

/** A raw WebSocket upgrade request; resolves with the HTTP status line answered. */
function upgrade (path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': Buffer.alloc(16, 1).toString('base64'),
        'sec-websocket-protocol': 'mqtt'
      }
    })
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode ?? 0) })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  })
}

t.test('the configured path upgrades, others get 404', async (t) => {
  t.equal(await upgrade('/mqtt'), 101)
  t.equal(await upgrade('/mqtt?x=1'), 101, 'a query string does not matter')
  t.equal(await upgrade('/'), 404)
  t.equal(await upgrade('/mqtt/more'), 404)
})

t.test('MQTT.js on the configured path connects; on / it is refused', async (t) => {
  const ok = await mqtt.connectAsync(`ws://127.0.0.1:${port}/mqtt`, { reconnectPeriod: 0, connectTimeout: 3000 })
  t.ok(ok.connected)
  await ok.endAsync()
  const bad = mqtt.connect(`ws://127.0.0.1:${port}/`, { reconnectPeriod: 0, connectTimeout: 3000 })
  t.teardown(() => { bad.end(true) })
  // MQTT.js reports a refused upgrade as a close; the 404 itself is checked above
  await new Promise((resolve) => bad.once('close', () => resolve(undefined)))
  t.notOk(bad.connected)
})
