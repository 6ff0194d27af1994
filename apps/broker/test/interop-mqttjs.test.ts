// Interop: MQTT.js 5.16 (not written here) against the real culex process over TCP, TLS,
// WebSocket and secure WebSocket, with protocol versions 4 (3.1.1) and 5.
// These tests spawn dist/cli.js: they do not count toward this package's coverage.
import t from 'tap'
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt'
import { missing } from '@culex/test-kit'
import { startCulex, tempDir, makePki } from './helpers/culex.ts'
import { findClientBundle } from '../src/static.ts'

// no openssl, no TLS certificates: the TLS and WSS rows are reported as skipped
const tlsSkip = missing('openssl')
const tls = tlsSkip === false
const dir = tempDir(t)
const pki = tls ? makePki(dir) : undefined
const args = ['--ws-port', '0']
if (pki !== undefined) args.push('--tls-port', '0', '--wss-port', '0', '--cert', pki.cert, '--key', pki.key)
const culex = await startCulex(t, args)

function once (emitter: MqttClient, name: string): Promise<unknown[]> {
  return new Promise(resolve => emitter.once(name as 'close', (...args: unknown[]) => resolve(args)))
}

const url = (proto: string): string => `${proto}://127.0.0.1:${culex.ports[proto]}${proto.startsWith('ws') ? '/mqtt' : ''}`

async function connect (t: { teardown: (fn: () => void) => void }, proto: string, version: 4 | 5, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url(proto), {
    protocolVersion: version,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...(pki !== undefined ? { ca: pki.caPem, rejectUnauthorized: true } : {}),
    ...opts
  })
  t.teardown(() => { client.end(true) })
  return client
}

interface Msg { topic: string, payload: string, qos: number, retain: boolean }

function collect (client: MqttClient): Msg[] & { next: (n: number) => Promise<Msg[]> } {
  const msgs = [] as unknown as Msg[] & { next: (n: number) => Promise<Msg[]> }
  const waiters: Array<() => void> = []
  client.on('message', (topic, payload, packet) => {
    msgs.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain })
    for (const w of waiters.splice(0)) w()
  })
  msgs.next = async (n) => {
    const deadline = Date.now() + 5000
    while (msgs.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} messages, got ${msgs.length}`)
      await new Promise<void>(resolve => { waiters.push(resolve); setTimeout(resolve, 100) })
    }
    return msgs.slice(0, n)
  }
  return msgs
}

const protos = ['mqtt', 'ws', 'mqtts', 'wss']
for (const proto of protos) {
  for (const version of [4, 5] as const) {
    t.test(`${proto} v${version}`, { skip: proto === 'mqtts' || proto === 'wss' ? tlsSkip : false }, async t => {
      const id = `${proto}-${version}-${Math.random().toString(36).slice(2, 8)}`
      const sub = await connect(t, proto, version, { clientId: `sub-${id}` })
      const pub = await connect(t, proto, version, { clientId: `pub-${id}` })
      const got = collect(sub)
      const granted = await sub.subscribeAsync(`it/${id}/#`, { qos: 2 })
      t.equal(granted[0]?.qos, 2, 'SUBACK grants QoS 2')

      await pub.publishAsync(`it/${id}/q0`, 'zero', { qos: 0 })
      await pub.publishAsync(`it/${id}/q1`, 'one', { qos: 1 })
      await pub.publishAsync(`it/${id}/q2`, 'two', { qos: 2 })
      const three = await got.next(3)
      t.same(three.map(m => [m.topic, m.payload, m.qos]).sort(), [
        [`it/${id}/q0`, 'zero', 0], [`it/${id}/q1`, 'one', 1], [`it/${id}/q2`, 'two', 2]
      ].sort(), 'QoS 0, 1 and 2 round trips')

      await pub.publishAsync(`ret/${id}`, 'kept', { qos: 1, retain: true })
      const late = await connect(t, proto, version, { clientId: `late-${id}` })
      const lateGot = collect(late)
      await late.subscribeAsync(`ret/${id}`, { qos: 1 })
      const [r] = await lateGot.next(1)
      t.same(r, { topic: `ret/${id}`, payload: 'kept', qos: 1, retain: true }, 'retained delivered on subscribe with retain flag')
      await pub.publishAsync(`ret/${id}`, '', { qos: 1, retain: true }) // clear it

      const willing = await connect(t, proto, version, {
        clientId: `will-${id}`,
        keepalive: 60,
        will: { topic: `it/${id}/will`, payload: Buffer.from('gone'), qos: 1, retain: false }
      })
      willing.stream.destroy() // abnormal disconnect
      const [, , , will] = await got.next(4)
      t.same(will, { topic: `it/${id}/will`, payload: 'gone', qos: 1, retain: false }, 'will published on abnormal disconnect')

      const quiet = await connect(t, proto, version, {
        clientId: `quiet-${id}`,
        will: { topic: `it/${id}/will`, payload: Buffer.from('never'), qos: 1, retain: false }
      })
      await quiet.endAsync()
      await pub.publishAsync(`it/${id}/after`, 'marker', { qos: 1 })
      const five = await got.next(5)
      t.equal(five[4]?.payload, 'marker', 'no will after a normal DISCONNECT')
    })
  }
}

if (pki !== undefined) {
  t.test('TLS with required client certificates', async t => {
    const mtls = await startCulex(t, ['--tls-port', '0', '--cert', pki.cert, '--key', pki.key, '--ca', pki.ca, '--require-client-cert'])
    const good = await mqtt.connectAsync(`mqtts://127.0.0.1:${mtls.ports.mqtts}`, {
      reconnectPeriod: 0, connectTimeout: 5000, ca: pki.caPem, cert: pki.clientCertPem, key: pki.clientKeyPem
    })
    t.teardown(() => { good.end(true) })
    t.ok(good.connected, 'client with a CA-signed certificate connects')
    const bad = mqtt.connect(`mqtts://127.0.0.1:${mtls.ports.mqtts}`, { reconnectPeriod: 0, connectTimeout: 3000, ca: pki.caPem })
    t.teardown(() => { bad.end(true) })
    const [err] = await Promise.race([once(bad, 'error'), once(bad, 'close').then(() => [new Error('closed')])]) as [Error]
    t.ok(err instanceof Error && !bad.connected, `client without a certificate is refused (${err.message})`)
  })
}

t.test('WebSocket listener answers HTTP and upgrades any path by default', async t => {
  const res = await fetch(`http://127.0.0.1:${culex.ports.ws}/nothing-here`)
  t.equal(res.status, 404)
  const bundle = await fetch(`http://127.0.0.1:${culex.ports.ws}/culex-client.js`)
  if (findClientBundle() !== undefined && bundle.status === 200) {
    t.match(bundle.headers.get('content-type'), /javascript/, '/culex-client.js served as JavaScript')
    t.match(await bundle.text(), /export\s*{/, 'the bundle is an ES module')
  } else {
    t.equal(bundle.status, 404, '@culex/client browser bundle not built: /culex-client.js is 404')
  }
  for (const path of ['/', '/not-mqtt']) {
    const c = await mqtt.connectAsync(`ws://127.0.0.1:${culex.ports.ws}${path}`, { reconnectPeriod: 0, connectTimeout: 3000 })
    t.ok(c.connected, `MQTT over WebSocket on ${path} (no --ws-path)`)
    await c.endAsync()
  }
})
