// culex:http-auth against a real HTTP server (node:http on port 0), through the real culex
// process configured by a YAML file: authentication, publish/subscribe ACL, the cache, the
// timeout and errors (refused and logged), and reads decided at SUBSCRIBE then re-asked in
// the background once stale.
import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type mqtt from 'mqtt'
import { startCulex, tempDir, type Culex } from './helpers/culex.ts'
import { connect5, puback, suback, inbox, until, sleep } from './helpers/plugins.ts'

interface Seen { path: string, body: Record<string, unknown> }

interface Service {
  port: number
  seen: Seen[]
  revoked: Set<string>
}

/** The auth service (a timeout of 1 s and a cache TTL of 1.5 s leave room for a loaded machine): decisions by username / topic; `slow…` never answers in time; `broken…` is a 500. */
async function startService (t: { teardown: (fn: () => unknown) => void }): Promise<Service> {
  const seen: Seen[] = []
  const revoked = new Set<string>()
  const server = http.createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8').on('data', (d: string) => { raw += d })
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>
      seen.push({ path: req.url ?? '', body })
      const answer = (status: number): void => { res.writeHead(status).end() }
      const key = String(body.username ?? body.topic ?? '')
      if (key.startsWith('slow') || String(body.topic ?? '').startsWith('slow')) { setTimeout(() => answer(200), 4000).unref(); return }
      if (key.startsWith('broken')) { answer(500); return }
      if (req.url === '/auth') { answer(body.password === 'pw' && ['alice', 'carol'].includes(body.username as string) ? 200 : 403); return }
      const topic = String(body.topic)
      if (revoked.has(`${String(body.username)} ${topic}`)) { answer(403); return }
      const ok = topic.startsWith('allowed/') || topic.startsWith('rev/')
      answer(ok ? 204 : 403)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise(resolve => { server.closeAllConnections(); server.close(resolve) }))
  return { port: (server.address() as { port: number }).port, seen, revoked }
}

async function startWith (t: { teardown: (fn: () => unknown) => void }, svc: Service, extra = ''): Promise<Culex> {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'culex.yaml'), `
plugins:
  - module: culex:http-auth
    options:
      authUrl: http://127.0.0.1:${svc.port}/auth
      aclUrl: http://127.0.0.1:${svc.port}/acl
      timeout: 1000
      cacheTtl: 1500
${extra}`)
  return await startCulex(t, ['-c', 'culex.yaml'], { cwd: dir })
}

const count = (svc: Service, pred: (s: Seen) => boolean): number => svc.seen.filter(pred).length

t.test('authentication: 2xx allows, 4xx refuses, cached; timeouts and 5xx refuse and are logged', async t => {
  const svc = await startService(t)
  const culex = await startWith(t, svc)
  const port = culex.ports.mqtt!
  const a = await connect5(t, port, { clientId: 'a1', username: 'alice', password: 'pw' })
  t.type(a, 'object', 'alice connects')
  t.same(svc.seen[0], { path: '/auth', body: { clientId: 'a1', username: 'alice', password: 'pw' } }, 'the request body')
  t.equal(await connect5(t, port, { clientId: 'b1', username: 'bob', password: 'pw' }), 0x86, '403 → Bad user name or password')
  t.equal(await connect5(t, port, { clientId: 'a2', username: 'alice', password: 'wrong' }), 0x86)

  ;(a as mqtt.MqttClient).end(true)
  const before = count(svc, s => s.path === '/auth')
  const again = await connect5(t, port, { clientId: 'a1', username: 'alice', password: 'pw' })
  t.type(again, 'object')
  t.equal(count(svc, s => s.path === '/auth'), before, 'answered from the cache')
  await sleep(1600)
  t.type(await connect5(t, port, { clientId: 'a1', username: 'alice', password: 'pw' }), 'object')
  t.equal(count(svc, s => s.path === '/auth'), before + 1, 'asked again once the TTL passed')

  const t0 = Date.now()
  t.equal(await connect5(t, port, { clientId: 's1', username: 'slow', password: 'pw' }), 0x86, 'no answer in time → refused')
  t.ok(Date.now() - t0 < 3500, 'after the 1 s timeout, not the service\'s 4 s')
  t.equal(await connect5(t, port, { clientId: 'x1', username: 'broken', password: 'pw' }), 0x86, '500 → refused')
  await until(() => culex.logs.some(l => l.msg === 'auth service answered neither 2xx nor 4xx; refusing'))
  const unreachable = culex.logs.find(l => l.msg === 'auth service unreachable; refusing')
  t.match(unreachable, { level: 40, err: 'no answer within 1000 ms', username: 'slow', plugin: 'culex:http-auth' }, 'timeout logged')
  t.notOk(JSON.stringify(culex.logs).includes('"password"'), 'passwords never logged')
  t.type(await connect5(t, port, { clientId: 'x2', username: 'broken', password: 'pw' }), 'number', 'a failure is not cached as an answer')
  t.equal(count(svc, s => s.body.username === 'broken'), 2)
})

t.test('publish and subscribe ACL; reads follow the SUBSCRIBE decision and stop when it is revoked', async t => {
  const svc = await startService(t)
  const culex = await startWith(t, svc)
  const port = culex.ports.mqtt!
  const a = await connect5(t, port, { clientId: 'sub-a', username: 'alice', password: 'pw' }) as mqtt.MqttClient
  const b = await connect5(t, port, { clientId: 'sub-b', username: 'carol', password: 'pw' }) as mqtt.MqttClient
  const p = await connect5(t, port, { clientId: 'pub', username: 'carol', password: 'pw' }) as mqtt.MqttClient

  t.equal(await suback(a, 'allowed/#'), 1, 'subscribe allowed')
  t.equal(await suback(a, 'secret/#'), 0x87, 'subscribe refused in the SUBACK')
  t.match(svc.seen.find(s => s.body.access === 'subscribe'), { path: '/acl', body: { clientId: 'sub-a', username: 'alice', topic: 'allowed/#', access: 'subscribe' } })
  const gotA = inbox(a)
  const gotB = inbox(b)
  t.equal(await puback(p, 'allowed/one'), 0, 'publish allowed')
  t.equal(await puback(p, 'secret/one'), 0x87, 'publish refused (PUBACK 0x87)')
  t.match(svc.seen.find(s => s.body.access === 'publish'), { body: { clientId: 'pub', username: 'carol', topic: 'allowed/one', access: 'publish' } })
  await until(() => gotA.length === 1)
  t.same(gotA, [['allowed/one', 'x']])
  t.equal(count(svc, s => s.body.access === 'read'), 0, 'deliveries under a granted filter ask nothing')

  // revocation: both subscribe rev/#; the service then refuses it for alice
  t.equal(await suback(a, 'rev/#'), 1)
  t.equal(await suback(b, 'rev/#'), 1)
  await puback(p, 'rev/x', 'm1')
  await until(() => gotB.some(m => m[1] === 'm1'))
  svc.revoked.add('alice rev/#')
  await sleep(1600) // the grant is now older than cacheTtl
  await puback(p, 'rev/x', 'm2')
  await until(() => gotB.some(m => m[1] === 'm2'))
  await until(() => count(svc, s => s.body.access === 'subscribe' && s.body.topic === 'rev/#' && s.body.username === 'alice') === 2, 2000, 'background re-check')
  await until(() => culex.logs.some(l => l.msg === 'subscription no longer allowed by the auth service; deliveries stop'), 2000, 'revocation logged')
  await puback(p, 'rev/x', 'm3')
  await until(() => gotB.some(m => m[1] === 'm3'))
  await sleep(100)
  t.same(gotA.filter(m => m[0] === 'rev/x').map(m => m[1]), ['m1', 'm2'], 'alice got m1, m2 (stale grant, re-asked in the background), not m3')
  t.same(gotB.filter(m => m[0] === 'rev/x').map(m => m[1]), ['m1', 'm2', 'm3'], 'carol unaffected')

  // a publish whose check times out is refused and logged
  const t0 = Date.now()
  t.equal(await puback(p, 'slow/topic'), 0x87, 'ACL timeout → refused')
  t.ok(Date.now() - t0 < 3500)
})

t.test('a delivery no SUBSCRIBE of this connection granted is asked as a read, refused until answered', async t => {
  const svc = await startService(t)
  const culex = await startWith(t, svc)
  const port = culex.ports.mqtt!
  // a persistent session subscribed on an earlier connection
  const first = await connect5(t, port, { clientId: 'persist', username: 'alice', password: 'pw', clean: false, properties: { sessionExpiryInterval: 300 } }) as mqtt.MqttClient
  t.equal(await suback(first, 'allowed/#'), 1)
  await new Promise<void>(resolve => first.end(false, {}, () => resolve()))
  const again = await connect5(t, port, { clientId: 'persist', username: 'alice', password: 'pw', clean: false, properties: { sessionExpiryInterval: 300 } }) as mqtt.MqttClient
  const got = inbox(again)
  const p = await connect5(t, port, { clientId: 'pub2', username: 'carol', password: 'pw' }) as mqtt.MqttClient
  await puback(p, 'allowed/r', 'first')
  await until(() => count(svc, s => s.body.access === 'read' && s.body.topic === 'allowed/r') === 1, 2000, 'read asked')
  await sleep(50)
  t.same(got, [], 'first delivery on the resumed session refused while the read check runs')
  await puback(p, 'allowed/r', 'second')
  await until(() => got.length === 1)
  t.same(got, [['allowed/r', 'second']], 'the cached read answer lets the next one through')
  t.equal(count(svc, s => s.body.access === 'read'), 1, 'asked once')
})
