// A real HAProxy (Debian `haproxy`) in TCP mode in front of the real culex process with
// --proxy-protocol: send-proxy (v1) and send-proxy-v2 to the TCP listener, send-proxy-v2 to
// the TLS listener (TLS passes through HAProxy, the header precedes the handshake). Clients
// connect from 127.0.0.2 / 127.0.0.3 while HAProxy reaches culex from 127.0.0.1, so the
// address in culex's "client connected" debug line (-v) shows whose address culex used.
import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import mqtt from 'mqtt'
import { freePort, missing, startProcess, waitForPort, which } from '@culex/test-kit'
import { startCulex, tempDir, makePki, type Culex } from './helpers/culex.ts'
import { connect as rawConnect } from './helpers/raw.ts'

interface Tap { teardown: (fn: () => unknown) => void }

interface Fronts { v1: number, v2: number, tlsV2: number, tlsV1: number }

/** Start haproxy with one frontend per (listener, PROXY version); stopped by PID in teardown. */
async function startHaproxy (t: Tap, culexPort: number, culexTlsPort: number): Promise<Fronts> {
  const dir = tempDir(t, 'culex-haproxy-')
  const fronts: Fronts = { v1: await freePort(), v2: await freePort(), tlsV2: await freePort(), tlsV1: await freePort() }
  const pair = (name: string, front: number, back: number, send: string): string =>
    `frontend f_${name}\n  bind 127.0.0.1:${front}\n  default_backend b_${name}\n` +
    `backend b_${name}\n  server s_${name} 127.0.0.1:${back} ${send}\n`
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(cfg, [
    'global\n  maxconn 200\n',
    'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n',
    pair('v1', fronts.v1, culexPort, 'send-proxy'),
    pair('v2', fronts.v2, culexPort, 'send-proxy-v2'),
    pair('tlsv2', fronts.tlsV2, culexTlsPort, 'send-proxy-v2'),
    pair('tlsv1', fronts.tlsV1, culexTlsPort, 'send-proxy')
  ].join('\n'))
  const proc = await startProcess({
    name: 'haproxy',
    command: HAPROXY ?? 'haproxy',
    args: ['-f', cfg, '-db'],
    timeoutMs: 10_000,
    readyWhen: async () => { await Promise.all(Object.values(fronts).map(async p => { await waitForPort(p, { timeoutMs: 10_000 }) })) }
  })
  t.teardown(() => proc.stop())
  return fronts
}

/** An MQTT.js client whose TCP (or TLS) connection starts from `localAddress`. */
function clientFrom (port: number, localAddress: string, clientId: string, tlsOpts?: tls.ConnectionOptions): mqtt.MqttClient {
  const builder = (): net.Socket => tlsOpts === undefined
    ? net.connect({ port, host: '127.0.0.1', localAddress })
    : tls.connect({ port, host: '127.0.0.1', ...tlsOpts, ...{ localAddress } as tls.ConnectionOptions }) // passed on to net.connect
  return new mqtt.MqttClient(builder as unknown as ConstructorParameters<typeof mqtt.MqttClient>[0], { clientId, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 })
}

async function connected (t: Tap, c: mqtt.MqttClient): Promise<void> {
  t.teardown(() => c.end(true))
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
    c.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

async function logLine (culex: Culex, pred: (l: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms
  for (;;) {
    const l = culex.logs.find(pred)
    if (l !== undefined) return l
    if (Date.now() > end) throw new Error('log line not seen')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

// Debian installs it in /usr/sbin, which a non-root PATH may lack (the kit looks there too).
const HAPROXY = which('haproxy')
const skip = missing('haproxy')

t.test('HAProxy send-proxy / send-proxy-v2 in front of culex: the client address reaches the broker', { skip }, async t => {
  const dir = tempDir(t)
  const pki = makePki(dir)
  const culex = await startCulex(t, ['--proxy-protocol', '-v', '--tls-port', '0', '--cert', pki.cert, '--key', pki.key, '--host', '127.0.0.1', '--sys-interval', '0'])
  const fronts = await startHaproxy(t, culex.ports.mqtt!, culex.ports.mqtts!)
  // the log line's `remote` is address:port (the port is the client's, from the header too)
  const remoteOf = async (id: string): Promise<unknown> => String((await logLine(culex, l => l.msg === 'client connected' && l.clientId === id)).remote).replace(/:\d+$/, '')

  const a = clientFrom(fronts.v1, '127.0.0.2', 'via-v1')
  await connected(t, a)
  t.equal(await remoteOf('via-v1'), '127.0.0.2', 'send-proxy (v1): culex logs the client address, not HAProxy\'s 127.0.0.1')

  const b = clientFrom(fronts.v2, '127.0.0.3', 'via-v2')
  await connected(t, b)
  t.equal(await remoteOf('via-v2'), '127.0.0.3', 'send-proxy-v2')

  const tlsOpts = { ca: pki.caPem, servername: 'localhost' }
  const c = clientFrom(fronts.tlsV2, '127.0.0.4', 'via-tls-v2', tlsOpts)
  await connected(t, c)
  t.equal(await remoteOf('via-tls-v2'), '127.0.0.4', 'send-proxy-v2 before the TLS handshake')
  const d = clientFrom(fronts.tlsV1, '127.0.0.5', 'via-tls-v1', tlsOpts)
  await connected(t, d)
  t.equal(await remoteOf('via-tls-v1'), '127.0.0.5', 'send-proxy before the TLS handshake')

  // messages flow through both kinds of front end
  await b.subscribeAsync('pp/#', { qos: 1 })
  const got = new Promise<string>(resolve => b.once('message', (_topic, payload) => resolve(payload.toString())))
  await c.publishAsync('pp/hello', 'through haproxy and TLS', { qos: 1 })
  t.equal(await got, 'through haproxy and TLS')
})

t.test('malformed PROXY headers are refused and logged while a client behind HAProxy carries on', { skip }, async t => {
  const culex = await startCulex(t, ['--proxy-protocol', '-v', '--host', '127.0.0.1', '--sys-interval', '0', '--connect-timeout', '1000'])
  const fronts = await startHaproxy(t, culex.ports.mqtt!, culex.ports.mqtt!)
  const canary = clientFrom(fronts.v2, '127.0.0.6', 'canary')
  await connected(t, canary)
  await canary.subscribeAsync('canary/#', { qos: 1 })
  let received = 0
  canary.on('message', () => { received++ })

  const bad: Buffer[] = [
    rawConnect(4, 'no-header'), // MQTT straight to the PROXY listener
    Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 99999 1883\r\n'),
    Buffer.from('PROXY TCP6 10.0.0.1 10.0.0.2 1 1\r\n'),
    Buffer.concat([Buffer.from('\r\n\r\n\x00\r\nQUIT\n', 'latin1'), Buffer.from([0x22, 0x11, 0, 12]), Buffer.alloc(12)]), // v2, command 2 (none such)
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  ]
  for (const bytes of bad) {
    const s = net.connect(culex.ports.mqtt!, '127.0.0.1')
    await once(s, 'connect')
    s.on('error', () => {})
    const data: Buffer[] = []
    s.on('data', (d: Buffer) => data.push(d))
    s.write(bytes)
    await once(s, 'close')
    t.equal(Buffer.concat(data).length, 0, `refused without an answer: ${JSON.stringify(bytes.subarray(0, 14).toString('latin1'))}`)
    await canary.publishAsync('canary/ping', 'x', { qos: 1 })
  }
  const silent = net.connect(culex.ports.mqtt!, '127.0.0.1')
  silent.on('error', () => {})
  await once(silent, 'close')

  const refused = await (async () => {
    await logLine(culex, l => l.code === 'PROXY_ERR_TIMEOUT')
    return culex.logs.filter(l => typeof l.msg === 'string' && l.msg.startsWith('PROXY protocol header refused'))
  })()
  t.same(refused.map(l => l.code), ['PROXY_ERR_NO_HEADER', 'PROXY_ERR_V1_SYNTAX', 'PROXY_ERR_V1_SYNTAX', 'PROXY_ERR_V2_COMMAND', 'PROXY_ERR_NO_HEADER', 'PROXY_ERR_TIMEOUT'], 'each refused connection logged once, with its reason')
  t.equal(received, bad.length, 'the canary published and received through HAProxy after each refusal')
  t.equal(culex.proc.exitCode, null, 'culex still running')
  t.ok(canary.connected, 'canary still connected')
})
