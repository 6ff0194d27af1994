// In-process tests of startServer (these count toward coverage): listeners, auth hooks,
// static files, store selection errors, close.
import t from 'tap'
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'node:http'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { finalize, type PartialOptions } from '../src/config.ts'
import { startServer, type RunningServer } from '../src/server.ts'
import { openStore, redactUrl } from '../src/stores.ts'
import { resolveUnder, contentType, findClientBundle } from '../src/static.ts'
import { createLogger } from '../src/logger.ts'
import { hashPassword } from '../src/passwd.ts'
import { isAppError } from '../src/errors.ts'
import { tempDir } from './helpers/culex.ts'

const silent = pino({ level: 'silent' })

async function start (t: { teardown: (fn: () => unknown) => void }, o: PartialOptions, cwd: string): Promise<RunningServer> {
  const server = await startServer(finalize({ port: 0, store: 'memory', sysInterval: 0, ...o }, cwd), silent)
  t.teardown(() => server.close())
  return server
}

function get (port: number, path: string, method = 'GET'): Promise<{ status: number, body: string, type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('resolveUnder keeps paths inside the root', async t => {
  const rows: Array<[string, string | null]> = [
    ['/index.html', '/srv/www/index.html'],
    ['/a/b.js?x=1', '/srv/www/a/b.js'],
    ['/', '/srv/www'],
    ['/../etc/passwd', null],
    ['/%2e%2e/%2e%2e/etc/passwd', null],
    ['/a/%2e%2e/%2e%2e/x', null],
    ['/a/%2e%2e/x', '/srv/www/x'],
    ['/..%5c..%5cx', null],
    ['/a%00b', null],
    ['/%zz', null],
    ['relative', null]
  ]
  for (const [url, want] of rows) t.equal(resolveUnder('/srv/www', url), want, url)
  t.equal(contentType('a.HTML'), 'text/html; charset=utf-8')
  t.equal(contentType('a.bin'), 'application/octet-stream')
})

t.test('TCP + WebSocket listeners, static files and the client bundle', async t => {
  const dir = tempDir(t)
  const www = join(dir, 'www')
  mkdirSync(join(www, 'sub'), { recursive: true })
  writeFileSync(join(www, 'index.html'), '<h1>culex</h1>')
  writeFileSync(join(www, 'sub', 'app.js'), 'console.log(1)')
  writeFileSync(join(dir, 'secret.txt'), 'outside')
  symlinkSync(join(dir, 'secret.txt'), join(www, 'link.txt'))
  const server = await start(t, { wsPort: 0, httpStatic: 'www' }, dir)
  const ws = server.addresses.find(a => a.protocol === 'ws' && a.host === '127.0.0.1')!
  const tcp = server.addresses.find(a => a.protocol === 'mqtt' && a.host === '127.0.0.1')!
  t.match(tcp.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/)
  t.match(ws.url, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/)

  t.same(await get(ws.port, '/'), { status: 200, body: '<h1>culex</h1>', type: 'text/html; charset=utf-8' }, 'directory serves index.html')
  t.equal((await get(ws.port, '/sub/app.js')).body, 'console.log(1)')
  t.equal((await get(ws.port, '/sub/app.js', 'HEAD')).status, 200)
  for (const bad of ['/../secret.txt', '/%2e%2e/secret.txt', '/link.txt', '/missing', '/sub', '/a%00']) {
    t.equal((await get(ws.port, bad)).status, 404, `${bad} is 404`)
  }
  t.equal((await get(ws.port, '/', 'POST')).status, 405)
  const bundle = findClientBundle()
  const b = await get(ws.port, '/culex-client.js')
  if (bundle === undefined) {
    t.equal(b.status, 404, '@culex/client has no browser bundle: 404')
  } else {
    t.ok(b.status === 200 || b.status === 404, `bundle ${bundle}: served when built (status ${b.status})`)
    if (b.status === 200) t.equal(b.type, 'text/javascript; charset=utf-8')
  }

  for (const url of [tcp.url, ws.url]) {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5 })
    t.teardown(() => { c.end(true) })
    await c.subscribeAsync('s/t', { qos: 1 })
    const got = new Promise<string>(resolve => c.once('message', (_t, p) => resolve(p.toString())))
    await c.publishAsync('s/t', url, { qos: 1 })
    t.equal(await got, url, `round trip over ${url}`)
  }
})

t.test('password file and anonymous policy through the hooks', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'pw'), `u:${hashPassword('p')}\n`)
  const server = await start(t, { passwordFile: 'pw' }, dir)
  const url = server.addresses[0]!.url
  const ok = await mqtt.connectAsync(url, { reconnectPeriod: 0, username: 'u', password: 'p' })
  t.teardown(() => { ok.end(true) })
  t.ok(ok.connected, 'right password accepted')
  await t.rejects(mqtt.connectAsync(url, { reconnectPeriod: 0, username: 'u', password: 'x' }), 'wrong password refused')
  await t.rejects(mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5 }), /Not authorized/i, 'anonymous refused with 0x87')
  const anonServer = await start(t, { passwordFile: 'pw', allowAnonymous: true }, dir)
  const anon = await mqtt.connectAsync(anonServer.addresses[0]!.url, { reconnectPeriod: 0 })
  t.teardown(() => { anon.end(true) })
  t.ok(anon.connected, '--allow-anonymous with a password file admits anonymous clients')
})

t.test('start-up errors are AppErrors with codes', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'badpw'), 'u:plain\n')
  writeFileSync(join(dir, 'badacl'), 'nonsense\n')
  writeFileSync(join(dir, 'notpem'), 'x')
  const rows: Array<[string, PartialOptions, string]> = [
    ['missing password file', { passwordFile: 'nope' }, 'CULEX_ERR_PASSWORD_FILE'],
    ['plain password file', { passwordFile: 'badpw' }, 'CULEX_ERR_PASSWORD_FILE'],
    ['missing ACL file', { aclFile: 'nope' }, 'CULEX_ERR_ACL_FILE'],
    ['bad ACL file', { aclFile: 'badacl' }, 'CULEX_ERR_ACL_FILE'],
    ['missing cert', { tlsPort: 0, cert: 'nope', key: 'nope' }, 'CULEX_ERR_LISTEN'],
    ['not a PEM', { tlsPort: 0, cert: 'notpem', key: 'notpem' }, 'CULEX_ERR_LISTEN']
  ]
  for (const [name, o, code] of rows) {
    await t.rejects(startServer(finalize({ port: 0, store: 'memory', ...o }, dir), silent), { code }, name)
  }
  const first = await start(t, {}, dir)
  const port = first.addresses[0]!.port
  await t.rejects(startServer(finalize({ port, store: 'memory' }, dir), silent), { code: 'CULEX_ERR_LISTEN' }, 'port in use')
})

t.test('store selection', async t => {
  t.same(await openStore({ kind: 'memory' }, {}), { store: undefined, description: 'memory' })
  const missing = async (): Promise<Record<string, unknown>> => { throw new Error("Cannot find package '@culex/store-redis'") }
  await t.rejects(openStore({ kind: 'redis', url: 'redis://h' }, {}, missing), { code: 'CULEX_ERR_STORE' })
  await t.rejects(openStore({ kind: 'mongo', url: 'mongodb://h' }, {}, async () => ({})), { code: 'CULEX_ERR_STORE' })
  try {
    await openStore({ kind: 'redis', url: 'redis://h' }, {}, missing)
  } catch (err) {
    t.ok(isAppError(err) && /@culex\/store-redis/.test(err.message) && /--store memory/.test(err.message), 'message names the package and the way out')
  }
  t.equal(redactUrl('redis://user:secret@h:1/0'), 'redis://user:***@h:1/0')
  t.equal(redactUrl('not a url'), 'not a url')
  t.equal(redactUrl('redis+cluster://user:secret@h1:1,h2:2'), 'redis+cluster://user:***@h1:1,h2:2', 'cluster URL (a host list, no WHATWG URL)')
  t.equal(redactUrl('mongodb://u:s3cret@h1:27017,h2/culex?replicaSet=rs0'), 'mongodb://u:***@h1:27017,h2/culex?replicaSet=rs0', 'MongoDB replica set (a host list)')
  t.equal(redactUrl('rediss+cluster://h1:1,h2:2'), 'rediss+cluster://h1:1,h2:2')
})

t.test('close is idempotent and 5.0 clients get DISCONNECT 0x8B', async t => {
  const dir = tempDir(t)
  const server = await startServer(finalize({ port: 0, store: 'memory' }, dir), silent)
  const c = await mqtt.connectAsync(server.addresses[0]!.url, { reconnectPeriod: 0, protocolVersion: 5 })
  t.teardown(() => { c.end(true) })
  const disconnect = new Promise<number | undefined>(resolve => c.on('disconnect', (p) => resolve(p.reasonCode)))
  await Promise.all([server.close(), server.close()])
  t.equal(await disconnect, 0x8B, 'DISCONNECT 0x8B Server shutting down')
})

t.test('logger modes', async t => {
  t.equal(createLogger({ verbose: true, pretty: false }).level, 'debug')
  t.equal(createLogger({ verbose: false, pretty: true }).level, 'info')
})
