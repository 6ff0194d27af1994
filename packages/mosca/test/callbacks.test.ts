/**
 * Mosca's callbacks with Mosca's signatures and answers, observed by MQTT.js clients; the
 * `secure` TLS listener, `attachHttpServer`, and the `ttl` mapping (session expiry and
 * message expiry).
 */
import { readFileSync } from 'node:fs'
import { createServer as createHttp } from 'node:http'
import type { AddressInfo } from 'node:net'
import mqtt from 'mqtt'
import t from 'tap'
import { makeCert } from '@culex/test-kit'
import mosca, { type MoscaClient } from '../src/index.ts'
import { connect, nextMessage, refused, sleep, startServer, subackCodes } from './helpers/index.ts'

t.test('authenticate, authorizePublish, authorizeSubscribe, published', async (t) => {
  const server = await startServer(t, { port: 0, host: '127.0.0.1' })
  const url = `mqtt://127.0.0.1:${server.ports.mqtt!}`
  server.authenticate = (client: MoscaClient, username, password, callback) => {
    if (username === 'error') return callback(new Error('auth backend down'))
    const ok = username === 'alice' && password?.toString() === 'secret'
    if (ok) client.user = 'alice'
    callback(null, ok)
  }
  server.authorizePublish = (client, topic, payload, callback) => {
    if (topic === 'ignored') return callback(null, 'ignore')
    if (topic === 'rewrite') return callback(null, Buffer.from('new'))
    callback(null, client.user === 'alice' && topic !== 'forbidden' && payload.length < 100)
  }
  server.authorizeSubscribe = (_client, topic, callback) => {
    if (topic === 'error') return callback(new Error('acl down'))
    callback(null, topic !== 'secret')
  }
  const published: string[] = []
  server.published = (packet, client, callback) => {
    if (!packet.topic.startsWith('$SYS')) published.push(`${packet.topic}:${client?.id ?? 'server'}`)
    callback(null)
  }
  const clientErrors: Error[] = []
  server.on('clientError', (err) => { clientErrors.push(err) })

  t.equal((await refused(t, url, { username: 'error' })).code, 4, 'an error: 3.1.1 return code 4')
  t.equal((await refused(t, url, { username: 'bob', password: 'x' })).code, 5, 'false: 3.1.1 return code 5')
  t.equal((await refused(t, url, { username: 'bob', password: 'x', protocolVersion: 5 })).code, 0x87, 'false: 5.0 0x87')

  const sub = await connect(t, url, { username: 'alice', password: 'secret', clientId: 'cb-sub' })
  t.same(await subackCodes(sub, ['ok/#', 'secret', 'ignored', 'rewrite'], 1), [1, 128, 1, 1], 'authorizeSubscribe false: 0x80')
  const pub = await connect(t, url, { username: 'alice', password: 'secret', clientId: 'cb-pub' })
  const got = nextMessage(sub)
  await pub.publishAsync('ok/1', 'fine', { qos: 1 })
  t.equal((await got).topic, 'ok/1', 'authorizePublish true: delivered')
  let leaked = 0
  sub.on('message', (topic) => { if (topic === 'ignored' || topic === 'rewrite') leaked++ })
  await pub.publishAsync('ignored', 'x', { qos: 1 })
  t.pass("'ignore': acknowledged")
  await pub.publishAsync('rewrite', 'old', { qos: 1 })
  t.ok(clientErrors.some((e) => (e as { code?: string }).code === 'MOSCA_ERR_UNSUPPORTED'), 'a new payload is reported as unsupported')
  await sleep(50)
  t.equal(leaked, 0, "neither 'ignore' nor a rewrite was delivered")

  const closed = new Promise<void>((resolve) => pub.once('close', () => resolve()))
  pub.publish('forbidden', 'x', { qos: 1 })
  await closed
  t.pass('authorizePublish false: the publisher is disconnected')

  const closed2 = new Promise<void>((resolve) => sub.once('close', () => resolve()))
  sub.subscribe('error', () => {})
  await closed2
  t.ok(clientErrors.some((e) => e.message === 'acl down'), 'authorizeSubscribe error: clientError and disconnection')
  t.same(published, ['ok/1:cb-pub'], 'published is called for routed messages')
})

t.test('secure: the TLS listener from keyPath / certPath', async (t) => {
  const { key: keyPath, cert: certPath } = makeCert()
  const server = await startServer(t, { host: '127.0.0.1', secure: { port: 0, keyPath, certPath } })
  t.equal(server.ports.mqtt, undefined, 'no plain listener without allowNonSecure')
  const c = await connect(t, `mqtts://127.0.0.1:${server.ports.mqtts!}`, { ca: readFileSync(certPath) })
  const got = nextMessage(c)
  await c.subscribeAsync('tls')
  await c.publishAsync('tls', 'over tls')
  t.equal((await got).payload.toString(), 'over tls')
  t.throws(() => new mosca.Server({ https: { port: 0 } }), { code: 'MOSCA_ERR_SETTINGS', message: /https: expected TLS credentials/ })
})

t.test('attachHttpServer', async (t) => {
  const server = await startServer(t, { onlyHttp: true })
  t.same(server.ports, {}, 'onlyHttp without http: no listener')
  const http = createHttp()
  server.attachHttpServer(http, '/mqtt')
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()) }))
  const c = await connect(t, `ws://127.0.0.1:${(http.address() as AddressInfo).port}/mqtt`)
  const got = nextMessage(c)
  await c.subscribeAsync('ws')
  await new Promise<void>((resolve) => { server.publish({ topic: 'ws', payload: 'attached' }, () => resolve()) })
  t.equal((await got).payload.toString(), 'attached')
})

t.test('ttl.packets → message expiry, ttl.subscriptions → session expiry', async (t) => {
  const server = await startServer(t, {
    port: 0,
    host: '127.0.0.1',
    persistence: { factory: mosca.persistence.Memory, ttl: { subscriptions: 1500, packets: 300 } }
  })
  const url = `mqtt://127.0.0.1:${server.ports.mqtt!}`
  const sub = await connect(t, url, { clientId: 'ttl-sub', clean: false })
  await sub.subscribeAsync('ttl/#', { qos: 1 })
  await new Promise<void>((resolve) => { sub.end(false, {}, () => resolve()) })
  await new Promise<void>((resolve) => { server.publish({ topic: 'ttl/old', payload: 'stale', qos: 1 }, () => resolve()) })
  await sleep(500)
  await new Promise<void>((resolve) => { server.publish({ topic: 'ttl/new', payload: 'fresh', qos: 1 }, () => resolve()) })

  const back = mqtt.connect(url, { clientId: 'ttl-sub', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { back.end(true) })
  const msgs: string[] = []
  back.on('message', (topic) => { msgs.push(topic) })
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => back.once('connect', resolve))
  t.equal(connack.sessionPresent, true)
  await sleep(200)
  t.same(msgs, ['ttl/new'], 'a queued message older than ttl.packets is not delivered')
  await new Promise<void>((resolve) => { back.end(false, {}, () => resolve()) })

  await sleep(2000)
  const late = mqtt.connect(url, { clientId: 'ttl-sub', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { late.end(true) })
  const connack2 = await new Promise<{ sessionPresent: boolean }>((resolve) => late.once('connect', resolve))
  t.equal(connack2.sessionPresent, false, 'the session expired after ttl.subscriptions')
})

t.test('settings errors name the setting', async (t) => {
  t.throws(() => new mosca.Server({ persistence: { factory: () => {} } as never }), { code: 'MOSCA_ERR_SETTINGS', message: /persistence\.factory/ })
  t.throws(() => new mosca.Server({ persistence: { factory: 'leveldown' } }), { code: 'MOSCA_ERR_SETTINGS' })
  t.throws(() => new mosca.Server({ persistence: { factory: 'redis', ttl: { packets: -1 } } }), { message: /ttl\.packets/ })
  t.throws(() => new mosca.Server({ port: 70000 }), { message: /port/ })
  t.throws(() => new mosca.Server({ ascoltatore: {} as never }), { message: /ascoltatore/ })
  t.equal(mosca.persistence.getFactory('levelup'), mosca.persistence.LevelUp)
  t.equal(mosca.persistence.getFactory('mongodb'), mosca.persistence.Mongo)
})
