// The CoAP gateway's tests, run against the real culex process (coap.test.ts) and against
// startServer in this process (coap-in-process.test.ts, which also measures coverage): the
// `coap` package's client, with MQTT.js on the MQTT side. CoAP PUT/POST reach MQTT
// subscribers, MQTT retained messages answer CoAP GET, Observe notifications follow MQTT
// publishes and deregistration (Observe 1, RST) releases the subscription, the ACL refuses
// (4.01, 4.03, per notification after a reload), and bad requests are told so (4.00, 4.04,
// 4.05, 4.13).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import dgram from 'node:dgram'
import { once } from 'node:events'
import type { Test } from 'tap'
import { generate, parse, type ParsedPacket } from 'coap-packet'
import { Agent, request, type IncomingMessage, type ObserveReadStream, type CoapRequestParams } from 'coap'
import mqtt, { type MqttClient } from 'mqtt'
import { tempDir } from './culex.ts'
import { hashPassword } from '../../src/passwd.ts'

/** A running broker under test. */
export interface CoapTarget {
  ports: Record<string, number>
  logs: Array<Record<string, unknown>>
  /** SIGHUP: re-read the password and ACL files. */
  reload: () => void
  alive: () => boolean
}

/** Start a broker with these culex arguments (besides --port 0 --store memory). */
export type StartTarget = (t: Test, args: string[]) => Promise<CoapTarget>

export async function coapSuite (t: Test, start: StartTarget): Promise<void> {
  const dir = tempDir(t)
  const acl = join(dir, 'acl')
  writeFileSync(acl, [
    'topic readwrite open/#',
    'topic read ro/#',
    'topic write wo/#',
    'user alice',
    'topic readwrite alice/#',
    ''
  ].join('\n'))
  const passwd = join(dir, 'passwd')
  writeFileSync(passwd, `alice:${hashPassword('wonder')}\n`)

  // anonymous clients allowed (no password file); a small packet limit for the 4.13 test
  const culex = await start(t, ['--coap-port', '0', '--acl-file', acl, '--max-packet-size', '1024', '--log-level', 'debug', '--sys-interval', '0'])
  const coapPort = culex.ports.coap!

  function coap (target: CoapTarget | number, params: CoapRequestParams & { payload?: Buffer | string }): Promise<IncomingMessage> {
    const { payload, ...rest } = params
    return new Promise((resolve, reject) => {
      const req = request({ hostname: '127.0.0.1', port: typeof target === 'number' ? target : target.ports.coap!, agent: false, ...rest })
      req.on('response', resolve)
      req.on('error', reject)
      req.end(payload)
    })
  }

  async function mqttClient (t: { teardown: (fn: () => void) => void }, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${culex.ports.mqtt}`, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts })
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

  /** The client closes its agent's socket itself when the last observation closes. */
  function closeAgent (agent: Agent): void {
    try {
      agent.close()
    } catch {
      // already closed
    }
  }

  const logCount = (msg: string): number => culex.logs.filter(l => l.msg === msg).length

  t.test('the ready line reports the CoAP port, on loopback', async (t) => {
    const ready = culex.logs.find(l => l.ready === true) as { addresses: Array<{ protocol: string, host: string }> }
    const hosts = ready.addresses.filter(a => a.protocol === 'coap').map(a => a.host)
    t.ok(hosts.includes('127.0.0.1'), 'bound on 127.0.0.1')
    t.ok(hosts.every(h => h === '127.0.0.1' || h === '::1'), 'loopback only by default')
    t.ok(coapPort > 0)
  })

  t.test('CoAP PUT publishes retained: an MQTT subscriber receives it, with its QoS and content type', async (t) => {
    const sub = await mqttClient(t)
    await sub.subscribeAsync('open/put', { qos: 1 })
    const got = new Promise<{ topic: string, payload: Buffer, packet: mqtt.IPublishPacket }>(resolve => sub.once('message', (topic, payload, packet) => resolve({ topic, payload, packet })))
    const res = await coap(culex, { pathname: '/r/open/put', method: 'PUT', query: 'qos=1', payload: '{"t":21}', options: { 'Content-Format': 'application/json' } })
    t.equal(res.code, '2.04', '2.04 Changed')
    const m = await got
    t.equal(m.payload.toString(), '{"t":21}')
    t.equal(m.packet.qos, 1, 'QoS from ?qos=1')
    t.equal(m.packet.properties?.contentType, 'application/json', 'Content-Format became the MQTT 5 Content Type')
    // retained: a new subscriber gets it too
    const late = await mqttClient(t)
    const retained = new Promise<mqtt.IPublishPacket>(resolve => late.once('message', (_t, _p, packet) => resolve(packet)))
    await late.subscribeAsync('open/put')
    t.equal((await retained).retain, true, 'stored as retained')
    // and CoAP GET answers it with the Content-Format
    const get = await coap(culex, { pathname: '/r/open/put' })
    t.equal(get.code, '2.05')
    t.equal(get.payload.toString(), '{"t":21}')
    t.equal(get.headers['Content-Format'], 'application/json')
    // an empty PUT clears it
    t.equal((await coap(culex, { pathname: '/r/open/put', method: 'PUT' })).code, '2.04')
    t.equal((await coap(culex, { pathname: '/r/open/put' })).code, '4.04', 'cleared')
  })

  t.test('CoAP POST publishes, not retained, QoS 0 by default', async (t) => {
    const sub = await mqttClient(t)
    await sub.subscribeAsync('open/post/x', { qos: 1 })
    const got = new Promise<mqtt.IPublishPacket>(resolve => sub.once('message', (_t, _p, packet) => resolve(packet)))
    t.equal((await coap(culex, { pathname: '/r/open/post/x', method: 'POST', payload: 'hi' })).code, '2.04')
    const p = await got
    t.equal(p.payload.toString(), 'hi')
    t.equal(p.qos, 0)
    t.equal(p.retain, false)
    t.equal((await coap(culex, { pathname: '/r/open/post/x' })).code, '4.04', 'POST keeps nothing retained')
  })

  t.test('an MQTT retained publish answers CoAP GET; Content-Format only when it maps', async (t) => {
    const pub = await mqttClient(t)
    await pub.publishAsync('open/ret/json', '[1,2]', { qos: 1, retain: true, properties: { contentType: 'application/json' } })
    await pub.publishAsync('open/ret/odd', 'x', { qos: 1, retain: true, properties: { contentType: 'application/x-culex-odd' } })
    await pub.publishAsync('open/ret/caf\u00e9', 'utf8', { qos: 1, retain: true })
    const json = await coap(culex, { pathname: '/r/open/ret/json' })
    t.equal(json.code, '2.05')
    t.equal(json.payload.toString(), '[1,2]')
    t.equal(json.headers['Content-Format'], 'application/json')
    const odd = await coap(culex, { pathname: '/r/open/ret/odd' })
    t.equal(odd.code, '2.05')
    t.equal(odd.payload.toString(), 'x')
    t.equal(odd.headers['Content-Format'], undefined, 'no CoAP number for that type: no Content-Format')
    const utf = await coap(culex, { pathname: '/r/open/ret/caf%C3%A9' })
    t.equal(utf.code, '2.05', 'percent-encoded UTF-8 path segment')
    t.equal(utf.payload.toString(), 'utf8')
    t.equal((await coap(culex, { pathname: '/r/open/ret/none' })).code, '4.04', 'no retained message: 4.04')
  })

  t.test('Observe: retained first, then each MQTT publish; Observe 1 deregisters', async (t) => {
    const pub = await mqttClient(t)
    await pub.publishAsync('open/obs/a', 'first', { qos: 1, retain: true })
    const before = logCount('coap: observation ended')
    const token = Buffer.from('c0ffee01', 'hex')
    // one client endpoint (UDP socket) for the registration and the deregistration
    const agent = new Agent()
    t.teardown(() => { closeAgent(agent) })
    const obs = await coap(culex, { pathname: '/r/open/obs/a', observe: true, token, agent }) as ObserveReadStream
    t.equal(obs.code, '2.05')
    const got: string[] = []
    obs.on('data', (d: Buffer) => got.push(d.toString()))
    await until('the retained notification', () => got.length === 1)
    t.same(got, ['first'], 'the retained message is the first notification')
    await pub.publishAsync('open/obs/a', 'live-0', { qos: 0 })
    await pub.publishAsync('open/obs/a', 'live-1', { qos: 1 })
    await pub.publishAsync('open/obs/other', 'not mine', { qos: 1 })
    await until('two notifications', () => got.length === 3)
    t.same(got, ['first', 'live-0', 'live-1'])
    // deregister: GET with Observe 1 and the same token (RFC 7641 3.6)
    const res = await coap(culex, { pathname: '/r/open/obs/a', observe: 1, token, agent })
    t.equal(res.code, '2.05', 'the deregistering GET is answered like a GET')
    await until('the observation to end', () => logCount('coap: observation ended') === before + 1)
    const ended = culex.logs.filter(l => l.msg === 'coap: observation ended').at(-1)!
    t.equal(ended.observations, 0, 'no observation left')
    obs.close()
  })

  t.test('Observe with no retained message starts empty; a RST to a notification deregisters', async (t) => {
    // a raw UDP endpoint, so the test decides when to answer a notification with RST
    const sock = dgram.createSocket('udp4')
    t.teardown(() => { sock.close() })
    sock.bind(0, '127.0.0.1')
    await once(sock, 'listening')
    const inbox: ParsedPacket[] = []
    sock.on('message', (b) => { inbox.push(parse(b)) })
    const send = (p: Parameters<typeof generate>[0]): void => { sock.send(generate(p), coapPort, '127.0.0.1') }
    const pub = await mqttClient(t)
    const before = logCount('coap: observation ended')
    const token = Buffer.from('0bad0bad', 'hex')
    send({ messageId: 7001, token, code: '0.01', confirmable: true, options: [{ name: 'Observe', value: Buffer.alloc(0) }, { name: 'Uri-Path', value: Buffer.from('r') }, { name: 'Uri-Path', value: Buffer.from('open') }, { name: 'Uri-Path', value: Buffer.from('rst') }] })
    await until('the registration answer', () => inbox.length === 1)
    const first = inbox[0]!
    t.equal(first.code, '2.05')
    t.equal(first.payload.length, 0, 'no retained message: an empty first notification')
    t.ok(first.options.some(o => o.name === 'Observe'), 'it is a notification')
    await pub.publishAsync('open/rst', 'one', { qos: 1 })
    await until('a notification', () => inbox.length === 2)
    const n = inbox[1]!
    t.equal(n.payload.toString(), 'one')
    t.equal(n.confirmable, true, 'notifications of a CON registration are CON')
    // the endpoint no longer wants them: RST instead of ACK
    send({ messageId: n.messageId, code: '0.00', reset: true, confirmable: false })
    await until('the observation to end', () => logCount('coap: observation ended') === before + 1)
    await pub.publishAsync('open/rst', 'two', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal(inbox.length, 2, 'nothing after the RST')
  })

  t.test('ACL: anonymous rules decide (4.03), per topic and direction', async (t) => {
    t.equal((await coap(culex, { pathname: '/r/ro/x', method: 'PUT', payload: 'no' })).code, '4.03', 'read-only topic: PUT refused')
    t.equal((await coap(culex, { pathname: '/r/ro/x', method: 'POST', payload: 'no' })).code, '4.03', 'read-only topic: POST refused')
    t.equal((await coap(culex, { pathname: '/r/elsewhere', method: 'PUT', payload: 'no' })).code, '4.03', 'no rule: refused')
    t.equal((await coap(culex, { pathname: '/r/wo/x', method: 'PUT', payload: 'yes' })).code, '2.04', 'write-only topic: PUT allowed')
    t.equal((await coap(culex, { pathname: '/r/wo/x' })).code, '4.03', 'write-only topic: GET refused')
    const obs = await coap(culex, { pathname: '/r/wo/x', observe: true })
    t.equal(obs.code, '4.03', 'write-only topic: Observe refused')
    t.notOk(obs.headers.Observe, 'the refusal is no notification')
    ;(obs as ObserveReadStream).close?.()
    // a read right lets GET through (nothing retained there: 4.04, not 4.03)
    t.equal((await coap(culex, { pathname: '/r/ro/x' })).code, '4.04', 'read-only topic: GET allowed')
  })

  t.test('bad requests: 4.00, 4.04, 4.05, 4.13', async (t) => {
    const bad = async (params: CoapRequestParams & { payload?: Buffer | string }, code: string, what: string): Promise<void> => {
      const res = await coap(culex, params)
      t.equal(res.code, code, what)
      t.ok(res.payload.length > 0, `${what}: a diagnostic payload`)
    }
    await bad({ pathname: '/r/open/a%2Bb' }, '4.00', '+ in the topic')
    await bad({ pathname: '/r/open/%23' }, '4.00', '# in the topic')
    await bad({ pathname: '/r/open/%zz' }, '4.00', 'invalid percent-encoding')
    await bad({ pathname: '/r/open/a%00b', method: 'PUT', payload: 'x' }, '4.00', 'U+0000 in the topic')
    await bad({ pathname: '/r' }, '4.00', 'no topic')
    await bad({ pathname: '/r/open/q', method: 'POST', query: 'qos=3', payload: 'x' }, '4.00', 'qos 3')
    await bad({ pathname: '/nothing/here' }, '4.04', 'unknown path')
    await bad({ pathname: '/' }, '4.04', 'root')
    await bad({ pathname: '/r/open/x', method: 'DELETE' }, '4.05', 'DELETE')
    await bad({ pathname: '/r/open/big', method: 'PUT', payload: Buffer.alloc(1000, 0x61) }, '4.13', 'payload over --max-packet-size')
    t.equal((await coap(culex, { pathname: '/r/open/big' })).code, '4.04', 'the large payload was not published')
    // the broker is still serving
    t.equal((await coap(culex, { pathname: '/r/open/ok', method: 'POST', payload: 'fine' })).code, '2.04')
  })

  t.test('without anonymous clients, CoAP gets 4.01 unless --coap-username', async (t) => {
    const closed = await start(t, ['--coap-port', '0', '--password-file', passwd, '--acl-file', acl, '--sys-interval', '0'])
    t.equal((await coap(closed, { pathname: '/r/open/x' })).code, '4.01', 'GET')
    t.equal((await coap(closed, { pathname: '/r/open/x', method: 'PUT', payload: 'x' })).code, '4.01', 'PUT')
    const asAlice = await start(t, ['--coap-port', '0', '--password-file', passwd, '--acl-file', acl, '--coap-username', 'alice', '--sys-interval', '0'])
    t.equal((await coap(asAlice, { pathname: '/r/alice/x', method: 'PUT', payload: 'mine' })).code, '2.04', "alice's topic")
    const get = await coap(asAlice, { pathname: '/r/alice/x' })
    t.equal(get.code, '2.05')
    t.equal(get.payload.toString(), 'mine')
    t.equal((await coap(asAlice, { pathname: '/r/open/x', method: 'PUT', payload: 'x' })).code, '4.03', "the anonymous rules are not alice's")
  })

  t.test('garbage and invalid UTF-8 over raw UDP: answered or ignored, the gateway keeps serving', async (t) => {
    const sock = dgram.createSocket('udp4')
    t.teardown(() => { sock.close() })
    sock.bind(0, '127.0.0.1')
    await once(sock, 'listening')
    const inbox: ParsedPacket[] = []
    sock.on('message', (b) => { try { inbox.push(parse(b)) } catch { /* not CoAP */ } })
    for (const junk of [Buffer.alloc(0), Buffer.from([0xff]), Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0x40, 0x01, 0x00])]) {
      sock.send(junk, coapPort, '127.0.0.1')
    }
    sock.send(generate({ messageId: 9001, token: Buffer.from([1]), code: '0.01', confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('r') }, { name: 'Uri-Path', value: Buffer.from([0x61, 0xc3, 0x28]) }] }), coapPort, '127.0.0.1')
    await until('the answer to the invalid UTF-8 path', () => inbox.some(p => p.messageId === 9001))
    const answer = inbox.find(p => p.messageId === 9001)!
    t.equal(answer.code, '4.00', 'invalid UTF-8 in a path segment: 4.00')
    t.match(answer.payload.toString(), /UTF-8/)
    t.equal((await coap(culex, { pathname: '/r/open/still', method: 'POST', payload: 'up' })).code, '2.04', 'still serving')
    t.ok(culex.alive(), 'the process is alive')
  })

  t.test('each notification is checked against the current ACL (SIGHUP reload)', async (t) => {
    const d = tempDir(t)
    const file = join(d, 'acl')
    writeFileSync(file, 'topic readwrite live/#\n')
    const c = await start(t, ['--coap-port', '0', '--acl-file', file, '--sys-interval', '0'])
    const agent = new Agent()
    t.teardown(() => { closeAgent(agent) })
    const obs = await coap(c, { pathname: '/r/live/x', observe: true, agent }) as ObserveReadStream
    t.equal(obs.code, '2.05')
    const got: string[] = []
    obs.on('data', (p: Buffer) => { if (p.length > 0) got.push(p.toString()) })
    t.equal((await coap(c, { pathname: '/r/live/x', method: 'POST', payload: 'before' })).code, '2.04')
    await until('the first notification', () => got.length === 1)
    // the read right goes away; the write right stays
    writeFileSync(file, 'topic write live/#\n')
    c.reload()
    await until('the reload', () => c.logs.some(l => l.msg === 'reload: password and ACL files loaded'))
    t.equal((await coap(c, { pathname: '/r/live/x', method: 'POST', payload: 'after' })).code, '2.04', 'still writable')
    t.equal((await coap(c, { pathname: '/r/live/x' })).code, '4.03', 'GET now refused')
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.same(got, ['before'], 'no notification the identity may no longer read')
    obs.close()
  })
  t.test('a message over 1024 bytes: GET is block-wise, a notification carries its first block', async (t) => {
    const c = await start(t, ['--coap-port', '0', '--sys-interval', '0'])
    const big = Buffer.alloc(3000)
    for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26)
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${c.ports.mqtt}`, { reconnectPeriod: 0, connectTimeout: 5000 })
    t.teardown(() => { pub.end(true) })
    await pub.publishAsync('big/x', big, { qos: 1, retain: true })
    const get = await coap(c, { pathname: '/r/big/x' })
    t.equal(get.code, '2.05')
    t.ok(get.payload.equals(big), 'GET: the whole message (Block2 transfer)')
    // observe over raw UDP to see the options of each notification
    const sock = dgram.createSocket('udp4')
    t.teardown(() => { sock.close() })
    sock.bind(0, '127.0.0.1')
    await once(sock, 'listening')
    const inbox: ParsedPacket[] = []
    sock.on('message', (b) => {
      const p = parse(b)
      inbox.push(p)
      if (p.confirmable) sock.send(generate({ messageId: p.messageId, code: '0.00', ack: true, confirmable: false }), c.ports.coap!, '127.0.0.1')
    })
    sock.send(generate({ messageId: 4242, token: Buffer.from('b10c', 'hex'), code: '0.01', confirmable: true, options: [{ name: 'Observe', value: Buffer.alloc(0) }, { name: 'Uri-Path', value: Buffer.from('r') }, { name: 'Uri-Path', value: Buffer.from('big') }, { name: 'Uri-Path', value: Buffer.from('x') }] }), c.ports.coap!, '127.0.0.1')
    await until('the first notification', () => inbox.length === 1)
    const first = inbox[0]!
    t.equal(first.code, '2.05')
    t.ok(first.payload.equals(big.subarray(0, 1024)), 'the first 1024 bytes')
    t.same(first.options.find(o => o.name === 'Block2')?.value, Buffer.of(0x0e), 'Block2: block 0, more, size 1024')
    await pub.publishAsync('big/x', 'small', { qos: 1 })
    await until('the next notification', () => inbox.length === 2)
    t.equal(inbox[1]!.payload.toString(), 'small', 'the observation goes on')
    t.notOk(inbox[1]!.options.some(o => o.name === 'Block2'), 'no Block2 on a message that fits')
    sock.send(generate({ messageId: 4243, token: Buffer.from('b10c', 'hex'), code: '0.01', confirmable: true, options: [{ name: 'Observe', value: Buffer.of(1) }, { name: 'Uri-Path', value: Buffer.from('r') }, { name: 'Uri-Path', value: Buffer.from('big') }, { name: 'Uri-Path', value: Buffer.from('x') }] }), c.ports.coap!, '127.0.0.1')
    await until('the deregistration answer', () => inbox.some(p => p.messageId === 4243))
  })
}
