// The operator listener's tests, run against the real culex process (http.test.ts) and
// against startServer in this process (operator.test.ts, which also measures coverage).
import { spawn } from 'node:child_process'
import http from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { hasBinary } from './culex.ts'
import { request } from './http.ts'
import { hashPassword } from '../../src/passwd.ts'
import { METRIC_NAMES } from '../../src/metrics.ts'

export const TOKEN = 'Bearer test-token-0123456789'

/** A running broker under test: its ports and its parsed log lines. */
export interface Target {
  ports: Record<string, number>
  logs: Array<Record<string, unknown>>
}

/** Write the password and ACL files; returns the culex arguments for them. */
export function operatorArgs (dir: string): string[] {
  const passwd = join(dir, 'passwd')
  const acl = join(dir, 'acl')
  writeFileSync(passwd, `alice:${hashPassword('wonder')}\nbob:${hashPassword('builder')}\n`)
  writeFileSync(acl, [
    'user alice',
    'topic readwrite alice/#',
    'topic read public/#',
    'topic write $CULEX/admin',
    'user bob',
    'topic readwrite bob/#',
    ''
  ].join('\n'))
  return ['--http-port', '0', '--password-file', passwd, '--acl-file', acl,
    '--http-token', TOKEN.slice(7), '--http-max-body', '1000', '--sys-interval', '0']
}

/** Every route and refusal, and the client log lines. */
export function operatorSuite (t: Test, culex: Target): void {
  const port = culex.ports.http!
  const ALICE = 'alice:wonder'
  const BOB = 'bob:builder'

  async function mqttClient (t: { teardown: (fn: () => void) => void }, opts: mqtt.IClientOptions): Promise<MqttClient> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${culex.ports.mqtt}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    t.teardown(() => { c.end(true) })
    return c
  }

  async function until (what: string, fn: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms
    while (!fn()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  t.test('GET /health needs no credentials; other methods are 405', async (t) => {
    const r = await request(port, '/health')
    t.equal(r.status, 200)
    t.same(r.json(), { status: 'ok' })
    const p = await request(port, '/health', { method: 'POST' })
    t.equal(p.status, 405)
    t.equal(p.headers.allow, 'GET, HEAD')
  })

  t.test('the console page and its bundle are public; other paths are not', async (t) => {
    const page = await request(port, '/')
    t.equal(page.status, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    t.match(page.body, /<script type="module" src="console\/app.js">/)
    t.match(page.headers['content-security-policy'], /default-src 'self'/)
    const js = await request(port, '/console/app.js')
    t.equal(js.status, 200)
    t.match(js.headers['content-type'], /javascript/)
    t.equal((await request(port, '/console/app.css')).status, 200)
    t.equal((await request(port, '/console/nothing.js')).status, 401, 'anything else needs credentials')
    t.equal((await request(port, '/console/nothing.js', { auth: TOKEN })).status, 404)
    t.equal((await request(port, '/', { method: 'POST', auth: TOKEN })).status, 404)
  })

  t.test('every other route needs credentials: 401 with a Basic challenge', async (t) => {
    for (const path of ['/ready', '/metrics', '/resources/alice/x', '/api/clients', '/nothing']) {
      const r = await request(port, path)
      t.equal(r.status, 401, `${path} without credentials`)
      t.match(r.headers['www-authenticate'], /^Basic realm="culex"/)
    }
    t.equal((await request(port, '/metrics', { auth: 'alice:wrong' })).status, 401, 'wrong password')
    t.equal((await request(port, '/metrics', { auth: 'carol:wonder' })).status, 401, 'unknown user')
    t.equal((await request(port, '/metrics', { auth: 'Bearer wrong-token-0123456789' })).status, 401, 'wrong token')
    t.equal((await request(port, '/metrics', { headers: { authorization: 'Digest x' } })).status, 401, 'unknown scheme')
    t.equal((await request(port, '/metrics', { headers: { authorization: 'Basic !!!' } })).status, 401, 'garbage')
  })

  t.test('GET /ready: store and bus usable', async (t) => {
    const r = await request(port, '/ready', { auth: BOB })
    t.equal(r.status, 200)
    t.same(r.json(), { status: 'ready' })
  })

  t.test('GET /metrics: Prometheus text that promtool accepts, with every culex_* metric', async (t) => {
    // some traffic first, so that labelled counters have samples
    const sub = await mqttClient(t, { username: 'bob', password: 'builder', clientId: 'metrics-sub' })
    await sub.subscribeAsync('bob/#', { qos: 1 })
    await sub.publishAsync('bob/m', 'x', { qos: 1 })
    const r = await request(port, '/metrics', { auth: TOKEN })
    t.equal(r.status, 200)
    t.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    for (const name of METRIC_NAMES) t.match(r.body, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exposed`)
    t.match(r.body, /^culex_clients_connected 1$/m)
    t.match(r.body, /^culex_publish_received_total\{qos="1"\} 1$/m)
    t.match(r.body, /^culex_sessions\{state="online"\} 1$/m)
    t.match(r.body, /^culex_process_cpu_seconds_total /m, 'process metrics')
    t.equal((await request(port, '/metrics', { auth: BOB })).status, 200, 'any password-file user may scrape')
  })

  t.test('GET /metrics: store operation latency, one observation per store call', async (t) => {
    const H = 'culex_store_operation_duration_seconds'
    const scrape = async (): Promise<string> => (await request(port, '/metrics', { auth: TOKEN })).body
    const count = (body: string, op: string): number => {
      const m = new RegExp(`^${H}_count\\{operation="${op}"\\} (\\S+)$`, 'm').exec(body)
      return m === null ? 0 : Number(m[1])
    }
    // a persistent QoS 1 subscriber: each message published to it is one enqueue (offline, or
    // in-flight with persistInflight), whichever it is when the message arrives
    const sub = await mqttClient(t, { username: 'bob', password: 'builder', clientId: 'store-metrics', clean: false })
    await sub.subscribeAsync('bob/stored/#', { qos: 1 })
    await sub.endAsync()
    const before = await scrape()
    const pub = await mqttClient(t, { username: 'bob', password: 'builder' })
    const N = 7
    for (let i = 0; i < N; i++) await pub.publishAsync('bob/stored/' + i, 'x', { qos: 1 })
    const R = 3
    for (let i = 0; i < R; i++) await pub.publishAsync('bob/kept/' + i, 'r', { qos: 1, retain: true })
    const after = await scrape()
    t.equal(count(after, 'enqueue') - count(before, 'enqueue'), N, 'enqueue: exactly one per message for the persistent session')
    t.equal(count(after, 'putRetained') - count(before, 'putRetained'), R, 'putRetained: exactly one per retained publish')
    // the buckets are cumulative and end at the count; sum is positive
    const buckets = [...after.matchAll(new RegExp(`^${H}_bucket\\{le="([^"]+)",operation="enqueue"\\} (\\S+)$`, 'gm'))]
    t.equal(buckets.length, 16, '15 bounds and +Inf')
    t.equal(buckets.at(-1)?.[1], '+Inf')
    const v = buckets.map(b => Number(b[2]))
    t.ok(v.every((x, i) => i === 0 || x >= v[i - 1]!), 'cumulative')
    t.equal(v.at(-1), count(after, 'enqueue'))
    t.match(after, new RegExp(`^${H}_sum\\{operation="enqueue"\\} [0-9.e-]+$`, 'm'))
    t.match(after, new RegExp(`^# TYPE ${H} histogram$`, 'm'))
    // leave no session behind: a clean start ends it
    const gone = await mqttClient(t, { username: 'bob', password: 'builder', clientId: 'store-metrics', clean: true })
    await gone.endAsync()
    for (let i = 0; i < R; i++) await pub.publishAsync('bob/kept/' + i, '', { qos: 1, retain: true })
  })

  t.test('promtool check metrics accepts /metrics', { skip: hasBinary('promtool') ? false : 'promtool (Debian prometheus) not installed' }, async (t) => {
    const r = await request(port, '/metrics', { auth: TOKEN })
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.stderr.on('data', (d: Buffer) => { out += d.toString() })
    p.stdin.end(r.body)
    const code = await new Promise((resolve) => p.on('exit', resolve))
    t.equal(code, 0, `promtool check metrics: ${out}`)
    t.equal(out.trim(), '', 'no lint warnings')
  })

  t.test('REST: PUT publishes retained, GET returns it with its content type, DELETE clears it', async (t) => {
    const put = await request(port, '/resources/alice/room/temp?qos=1', { method: 'PUT', auth: ALICE, body: '21.5', headers: { 'content-type': 'text/plain' } })
    t.equal(put.status, 204)
    const get = await request(port, '/resources/alice/room/temp', { auth: ALICE })
    t.equal(get.status, 200)
    t.equal(get.body, '21.5')
    t.equal(get.headers['content-type'], 'text/plain')
    t.equal(get.headers['x-mqtt-qos'], '1')
    // an MQTT subscriber gets it as the retained message
    const sub = await mqttClient(t, { username: 'alice', password: 'wonder', protocolVersion: 5 })
    const got = new Promise<[string, string, boolean, string | undefined]>((resolve) => {
      sub.once('message', (topic, payload, packet) => resolve([topic, payload.toString(), packet.retain, packet.properties?.contentType]))
    })
    await sub.subscribeAsync('alice/room/temp')
    t.same(await got, ['alice/room/temp', '21.5', true, 'text/plain'])
    t.equal((await request(port, '/resources/alice/room/temp', { method: 'DELETE', auth: ALICE })).status, 204)
    const gone = await request(port, '/resources/alice/room/temp', { auth: ALICE })
    t.equal(gone.status, 404)
    t.equal((await request(port, '/resources/alice/never', { auth: ALICE })).status, 404, 'never set')
    t.equal((await request(port, '/resources/alice/bin', { method: 'PUT', auth: ALICE, body: Buffer.from([0, 1, 2]) })).status, 204)
    const bin = await request(port, '/resources/alice/bin', { auth: ALICE })
    t.equal(bin.headers['content-type'], 'application/octet-stream', 'no content type given')
  })

  t.test('REST: POST publishes (QoS from ?qos=) to MQTT subscribers, not retained', async (t) => {
    const sub = await mqttClient(t, { username: 'alice', password: 'wonder' })
    const got = new Promise<[string, string, number, boolean]>((resolve) => {
      sub.once('message', (topic, payload, packet) => resolve([topic, payload.toString(), packet.qos, packet.retain]))
    })
    await sub.subscribeAsync('alice/events/#', { qos: 2 })
    const r = await request(port, '/resources/alice/events/door%20open?qos=2', { method: 'POST', auth: ALICE, body: 'opened' })
    t.equal(r.status, 204)
    t.same(await got, ['alice/events/door open', 'opened', 2, false])
    t.equal((await request(port, '/resources/alice/events/door%20open', { auth: ALICE })).status, 404, 'POST does not retain')
  })

  t.test('REST refusals: 403 outside the ACL, 400 bad topic or qos, 405 wrong method, 413 oversize body', async (t) => {
    t.equal((await request(port, '/resources/alice/x', { method: 'PUT', auth: BOB, body: 'x' })).status, 403, 'bob may not write alice/')
    t.equal((await request(port, '/resources/alice/x', { method: 'POST', auth: BOB, body: 'x' })).status, 403)
    t.equal((await request(port, '/resources/alice/x', { method: 'DELETE', auth: BOB })).status, 403)
    t.equal((await request(port, '/resources/alice/x', { auth: BOB })).status, 403, 'bob may not read alice/')
    t.equal((await request(port, '/resources/public/news', { method: 'PUT', auth: ALICE, body: 'x' })).status, 403, 'read-only for alice')
    t.equal((await request(port, '/resources/public/news', { auth: ALICE })).status, 404, 'but she may read it')
    t.equal((await request(port, '/resources/%24SYS/broker/uptime', { method: 'PUT', auth: ALICE, body: 'x' })).status, 403, '$SYS needs its own rule')
    const wild = await request(port, '/resources/alice/%2B/x', { method: 'PUT', auth: ALICE, body: 'x' })
    t.equal(wild.status, 400, 'wildcard in a topic name')
    t.match(wild.json().error, /bad topic/)
    t.equal((await request(port, '/resources/', { method: 'PUT', auth: ALICE, body: 'x' })).status, 400, 'empty topic')
    t.equal((await request(port, '/resources/alice/%E0%A4%A', { method: 'PUT', auth: ALICE, body: 'x' })).status, 400, 'bad percent-encoding')
    t.equal((await request(port, '/resources/alice/a%00b', { method: 'PUT', auth: ALICE, body: 'x' })).status, 400, 'U+0000')
    t.equal((await request(port, '/resources/alice/x?qos=3', { method: 'POST', auth: ALICE, body: 'x' })).status, 400, 'qos 3')
    const patch = await request(port, '/resources/alice/x', { method: 'PATCH', auth: ALICE, body: 'x' })
    t.equal(patch.status, 405)
    t.equal(patch.headers.allow, 'GET, HEAD, PUT, POST, DELETE')
    const big = await request(port, '/resources/alice/big', { method: 'POST', auth: ALICE, body: Buffer.alloc(1001, 97) })
    t.equal(big.status, 413)
    t.equal((await request(port, '/resources/alice/ok', { method: 'POST', auth: ALICE, body: Buffer.alloc(1000, 97) })).status, 204, 'exactly the limit')
    t.equal((await request(port, '/health')).status, 200, 'still up')
  })

  t.test('REST: GET with Accept text/event-stream streams matching messages the caller may read', async (t) => {
    const events: Array<Record<string, unknown>> = []
    const req = http.get({ host: '127.0.0.1', port, path: '/resources/%23', agent: false, headers: { accept: 'text/event-stream', authorization: 'Basic ' + Buffer.from(ALICE).toString('base64') } })
    t.teardown(() => { req.destroy() })
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => { req.on('response', resolve); req.on('error', reject) })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/event-stream/)
    let buf = ''
    res.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n\n')) !== -1) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const data = block.split('\n').find((l) => l.startsWith('data: '))
        if (data !== undefined) events.push(JSON.parse(data.slice(6)))
      }
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    const pub = await mqttClient(t, { username: 'bob', password: 'builder' })
    await pub.publishAsync('bob/secret', 'not for alice', { qos: 1 })
    t.equal((await request(port, '/resources/alice/s1', { method: 'POST', auth: ALICE, body: 'one' })).status, 204)
    t.equal((await request(port, '/resources/alice/s2?qos=1', { method: 'PUT', auth: ALICE, body: Buffer.from([0xff, 0x00]) })).status, 204)
    await until('two events', () => events.length >= 2)
    t.same(events, [
      { topic: 'alice/s1', qos: 0, retain: false, payload: 'one' },
      { topic: 'alice/s2', qos: 1, retain: true, payloadBase64: '/wA=' }
    ], 'bob/secret was filtered out by the ACL')
    const bad = await request(port, '/resources/a/%23/b', { auth: ALICE, headers: { accept: 'text/event-stream' } })
    t.equal(bad.status, 400)
  })

  t.test('admin API: list and search clients, a client\'s subscriptions, disconnect, retained under a filter', async (t) => {
    const probe = await mqttClient(t, { username: 'bob', password: 'builder', clientId: 'probe-1', protocolVersion: 5 })
    await probe.subscribeAsync({ 'bob/a/+': { qos: 1 }, 'bob/b': { qos: 0 } })
    t.equal((await request(port, '/api/clients', { auth: BOB })).status, 403, 'bob has no admin right')
    const list = await request(port, '/api/clients?search=PROBE', { auth: ALICE })
    t.equal(list.status, 200)
    const body = list.json()
    t.equal(body.total, 1)
    t.match(body.sessions[0], { clientId: 'probe-1', connected: true, username: 'bob', transport: 'tcp', protocolVersion: 5, subscriptionCount: 2, queued: 0, inflight: 0 })
    const one = await request(port, '/api/clients/probe-1', { auth: TOKEN })
    t.equal(one.status, 200)
    t.same(one.json().subscriptions.map((s: { topic: string, qos: number }) => [s.topic, s.qos]).sort(), [['bob/a/+', 1], ['bob/b', 0]])
    t.equal((await request(port, '/api/clients/nobody', { auth: TOKEN })).status, 404)
    t.equal((await request(port, '/api/clients?limit=x', { auth: TOKEN })).status, 400)
    t.equal((await request(port, '/api/clients', { method: 'DELETE', auth: TOKEN })).status, 405)
    const overview = await request(port, '/api/overview', { auth: TOKEN })
    t.equal(overview.status, 200)
    t.ok(overview.json().metrics.connections.connected >= 1)

    const closed = new Promise((resolve) => probe.once('close', () => resolve(undefined)))
    const disconnected = new Promise<number | undefined>((resolve) => probe.once('disconnect', (p) => resolve(p.reasonCode)))
    t.equal((await request(port, '/api/clients/probe-1/disconnect', { method: 'GET', auth: TOKEN })).status, 405)
    const d = await request(port, '/api/clients/probe-1/disconnect', { method: 'POST', auth: ALICE })
    t.equal(d.status, 200)
    t.equal(await disconnected, 0x98, 'DISCONNECT 0x98 administrative action')
    await closed
    t.equal((await request(port, '/api/clients/probe-1/disconnect', { method: 'POST', auth: ALICE })).status, 404, 'no longer connected')

    for (const [topic, who] of [['alice/r1', ALICE], ['alice/r2', ALICE], ['bob/r3', BOB]] as const) {
      t.equal((await request(port, `/resources/${topic}`, { method: 'PUT', auth: who, body: 'v' })).status, 204)
    }
    const mine = await request(port, '/api/retained?filter=%23', { auth: ALICE })
    t.equal(mine.status, 200)
    const topics = mine.json().retained.map((r: { topic: string }) => r.topic)
    t.ok(topics.includes('alice/r1') && topics.includes('alice/r2'))
    t.notOk(topics.includes('bob/r3'), 'only what alice may read')
    const all = (await request(port, '/api/retained?filter=%2B/r3', { auth: TOKEN })).json()
    t.same(all.retained.map((r: { topic: string }) => r.topic), ['bob/r3'])
    t.same(all.retained[0].preview, { utf8: 'v' })
    t.equal((await request(port, '/api/retained?filter=a/%23/b', { auth: TOKEN })).status, 400, 'bad filter')
    t.equal((await request(port, '/api/nothing', { auth: TOKEN })).status, 404)
  })

  t.test('logs at the default level: connect, disconnect with reason, auth failure, with who and where', async (t) => {
    const c = await mqttClient(t, { username: 'bob', password: 'builder', clientId: 'logged-1' })
    c.end()
    await until('the disconnect line', () => culex.logs.some((l) => l.msg === 'client disconnected' && l.clientId === 'logged-1'))
    const bad = mqtt.connect(`mqtt://127.0.0.1:${culex.ports.mqtt}`, { reconnectPeriod: 0, username: 'bob', password: 'nope', clientId: 'intruder' })
    await new Promise((resolve) => bad.once('error', resolve))
    bad.end(true)
    await until('the auth failure line', () => culex.logs.some((l) => l.msg === 'authentication failed' && l.clientId === 'intruder'))
    const connected = culex.logs.find((l) => l.msg === 'client connected' && l.clientId === 'logged-1')!
    t.match(connected, { level: 30, username: 'bob', transport: 'tcp', protocol: '3.1.1', remote: /^127\.0\.0\.1:\d+$/ })
    const gone = culex.logs.find((l) => l.msg === 'client disconnected' && l.clientId === 'logged-1')!
    t.match(gone, { level: 30, username: 'bob', reason: 'normal disconnection', reasonCode: '0x00' })
    const failed = culex.logs.find((l) => l.msg === 'authentication failed')!
    t.match(failed, { level: 40, clientId: 'intruder', username: 'bob', transport: 'tcp', remote: /^127\.0\.0\.1:\d+$/, code: 'BROKER_ERR_NOT_AUTHORIZED' })
    const admin = culex.logs.find((l) => l.msg === 'client disconnected' && l.clientId === 'probe-1')
    t.match(admin, { reason: 'administrative action', reasonCode: '0x98' })
    t.equal(culex.logs.filter((l) => l.clientId === 'intruder').length, 1, 'the refusal is logged once')
  })
}
