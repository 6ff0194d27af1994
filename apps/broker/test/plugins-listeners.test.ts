// Plugins that add HTTP routes and listeners: examples/line-ingest.mjs loaded from the config
// file by the real culex process, reached over real HTTP and TCP; closed on SIGTERM; a
// listener that cannot start stops culex with an error naming the plugin. Route and listener
// checks in process.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { once } from 'node:events'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import mqtt from 'mqtt'
import type { Broker } from '@culex/broker'
import { hashPassword } from '../src/passwd.ts'
import { loadPlugins } from '../src/plugins/index.ts'
import { PluginRoutes, checkRoutes } from '../src/plugins/routes.ts'
import { isAppError } from '../src/errors.ts'
import { startCulex, runCulex, tempDir, type Culex } from './helpers/culex.ts'
import { request } from './helpers/http.ts'

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'line-ingest.mjs')
const silent = pino({ level: 'silent' })

function setup (t: Parameters<typeof tempDir>[0], options: string): string {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'passwd'), `alice:${hashPassword('wonder')}\n`)
  writeFileSync(join(dir, 'culex.yaml'), `
plugins:
  - module: ${JSON.stringify(EXAMPLE)}
    options: ${options}
`)
  return dir
}

function pluginPort (culex: Culex): number {
  const line = culex.logs.find(l => typeof l.msg === 'string' && l.msg.startsWith('line-ingest listening on'))
  if (line === undefined) throw new Error('no "line-ingest listening" log line')
  return line.port as number
}

/** Send lines to the plugin's TCP listener; resolves with its first `n` answers. */
async function sendLines (port: number, text: string, n: number): Promise<{ answers: string[], socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.setEncoding('utf8')
  let buf = ''
  const answers = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${n} answers in 5 s: ${JSON.stringify(buf)}`)), 5000)
    socket.on('data', (d: string) => {
      buf += d
      const lines = buf.split('\n').filter(Boolean)
      if (lines.length >= n) { clearTimeout(timer); resolve(lines.slice(0, n)) }
    })
    socket.write(text)
  })
  return { answers, socket }
}

t.test('a real plugin file: its route over real HTTP (auth enforced), its TCP listener publishes, SIGTERM closes it', async t => {
  const dir = setup(t, '{ topicPrefix: "lines/" }')
  const culex = await startCulex(t, ['-c', 'culex.yaml', '--http-port', '0', '--password-file', 'passwd', '--sys-interval', '0'], { cwd: dir })
  const http = culex.ports.http!
  const port = pluginPort(culex)

  // HTTP: the plugin's routes, and culex's own routes unchanged
  const anon = await request(http, '/line-ingest/stats')
  t.equal(anon.status, 401, 'a route that is not public needs credentials')
  t.equal((await request(http, '/line-ingest/stats', { auth: 'alice:nope' })).status, 401, 'wrong credentials: 401')
  const stats = await request(http, '/line-ingest/stats', { auth: 'alice:wonder' })
  t.equal(stats.status, 200)
  t.same(stats.json(), { published: 0, refused: 0, askedBy: 'alice' }, 'the handler sees who asked')
  const ping = await request(http, '/line-ingest/ping')
  t.equal(ping.status, 200, 'a public route needs no credentials')
  t.equal(ping.body, 'pong\n')
  const post = await request(http, '/line-ingest/stats', { method: 'POST', auth: 'alice:wonder', body: 'x' })
  t.equal(post.status, 405, 'another method: 405')
  t.equal(post.headers.allow, 'GET')
  t.equal((await request(http, '/line-ingest/statsx', { auth: 'alice:wonder' })).status, 404, 'the prefix matches whole segments only')
  t.equal((await request(http, '/nowhere', { auth: 'alice:wonder' })).status, 404, 'other paths: still 404')
  t.equal((await request(http, '/nowhere')).status, 401, 'other paths without credentials: still 401')
  t.equal((await request(http, '/health')).status, 200, '/health unchanged')
  const metrics = await request(http, '/metrics', { auth: 'alice:wonder' })
  t.equal(metrics.status, 200, '/metrics unchanged')
  t.match(metrics.body, /culex_http_requests_total\{route="plugin",status="200"\} [1-9]/, 'plugin requests counted under route="plugin"')

  // TCP: a line published into the broker, received by a real MQTT client
  const sub = mqtt.connect(`mqtt://127.0.0.1:${culex.ports.mqtt!}`, { username: 'alice', password: 'wonder', reconnectPeriod: 0 })
  t.teardown(() => { sub.end(true) })
  await new Promise(resolve => sub.once('connect', resolve))
  await sub.subscribeAsync('lines/#', { qos: 1 })
  const got = new Promise<[string, string, number]>((resolve) => sub.once('message', (topic, payload, packet) => resolve([topic, payload.toString(), packet.qos])))
  const { answers, socket } = await sendLines(port, 'sensors/1 21.5\nno-space-here\n+/bad x\n', 3)
  // a malformed line is answered at once, a publish once stored and routed: any order
  t.same(answers.map(a => a.replace(/^error publish: .*/, 'error publish')).sort(),
    ['error expected "<topic> <payload>"', 'error publish', 'ok'], 'acknowledged once published; bad lines answered, not fatal')
  t.same(await got, ['lines/sensors/1', '21.5', 1], 'the subscriber got it at QoS 1')
  t.same((await request(http, '/line-ingest/stats', { auth: 'alice:wonder' })).json(), { published: 1, refused: 2, askedBy: 'alice' })

  // SIGTERM: the listener is closed (its open connection too), the process exits 0
  const socketClosed = once(socket, 'close')
  culex.proc.kill('SIGTERM')
  const exit = await culex.exited
  t.same(exit, { code: 0, signal: null }, 'culex exits 0 on SIGTERM')
  await socketClosed
  t.ok(culex.logs.some(l => l.msg === 'line-ingest listener closed'), 'the plugin listener was closed')
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve('connected') })
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
  t.equal(refused, 'ECONNREFUSED', 'nothing listens on the plugin port any more')
})

t.test('a plugin listener that cannot start stops culex with an error naming the plugin', async t => {
  const blocker = net.createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const taken = (blocker.address() as net.AddressInfo).port
  const dir = setup(t, `{ port: ${taken} }`)
  const r = await runCulex(['-c', 'culex.yaml', '--port', '0', '--store', 'memory', '--password-file', 'passwd'], { cwd: dir })
  t.equal(r.code, 2, 'exit code 2 (CULEX_ERR_PLUGIN)')
  t.match(r.stderr, /culex: plugin "line-ingest": listener 1 failed to start: listen EADDRINUSE/, 'the error names the plugin and the cause')
  t.notMatch(r.stdout, /"ready":true/, 'never became ready')
})

t.test('listeners in process: started in order, closed in reverse at shutdown; a failure closes those already started', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'l.mjs'), `
export const calls = []
export default function () {
  return {
    listeners: [
      (b) => { calls.push(['start a', b.id]); return { close () { calls.push(['close a']) } } },
      async () => { calls.push(['start b']); return { close: async () => { calls.push(['close b']); throw new Error('close fails') } } }
    ]
  }
}`)
  writeFileSync(join(dir, 'bad.mjs'), `
export default function () {
  return { name: 'bad', listeners: [() => ({ nope: 1 })] }
}`)
  const broker = { id: 'n1' } as unknown as Broker
  const mod = await import(join(dir, 'l.mjs')) as { calls: unknown[] }
  const one = await loadPlugins([{ module: './l.mjs', options: {}, baseDir: dir }], silent)
  await one.listen(broker)
  t.same(mod.calls, [['start a', 'n1'], ['start b']])
  await one.close()
  t.same(mod.calls.slice(2), [['close b'], ['close a']], 'reverse order; a failing close() is logged, the others still run')
  await one.closeListeners()
  t.equal(mod.calls.length, 4, 'closed once')

  mod.calls.length = 0
  const two = await loadPlugins([{ module: './l.mjs', options: {}, baseDir: dir }, { module: './bad.mjs', options: {}, baseDir: dir }], silent)
  const err = await two.listen(broker).then(() => undefined, (e: unknown) => e)
  t.ok(isAppError(err) && err.code === 'CULEX_ERR_PLUGIN')
  t.match((err as Error).message, /plugin "bad": listener 1 failed to start: expected it to return \{ close \(\) \}, got object/)
  t.same(mod.calls, [['start a', 'n1'], ['start b'], ['close b'], ['close a']], 'the listeners already started were closed')
})

t.test('routes: checked at load time', async t => {
  const h = (): void => {}
  const rows: Array<[unknown, RegExp]> = [
    [{}, /routes to be a list/],
    [[null], /routes\[0\] to be/],
    [[{ path: 'x', handler: h }], /path to be a path starting with \//],
    [[{ path: '/a?b', handler: h }], /path to be a path starting with \//],
    [[{ path: '/', handler: h }], /below \//],
    [[{ path: '/metrics', handler: h }], /clear of culex's own \/metrics/],
    [[{ path: '/api/mine', handler: h }], /clear of culex's own \/api/],
    [[{ path: '/resources/', handler: h }], /clear of culex's own \/resources/],
    [[{ path: '/x', method: 'get', handler: h }], /upper-case HTTP method/],
    [[{ path: '/x', method: [], handler: h }], /upper-case HTTP method/],
    [[{ path: '/x', public: 'yes', handler: h }], /public to be true or false/],
    [[{ path: '/x' }], /handler to be a function/]
  ]
  for (const [routes, re] of rows) t.match(checkRoutes(routes), re, JSON.stringify(routes))
  t.equal(checkRoutes([{ path: '/x/', method: ['GET', 'POST'], public: true, handler: h }, { path: '/apis', handler: h }]), undefined, 'valid routes')

  const dir = tempDir(t)
  writeFileSync(join(dir, 'r.mjs'), 'export default () => ({ routes: [{ path: "/health", handler () {} }] })\n')
  writeFileSync(join(dir, 'l.mjs'), 'export default () => ({ listeners: {} })\n')
  for (const [file, re] of [['r.mjs', /routes\[0\]\.path to stay clear of culex's own \/health/], ['l.mjs', /expected listeners to be a list of functions/]] as const) {
    const err = await loadPlugins([{ module: `./${file}`, options: {}, baseDir: dir }], silent).then(() => undefined, (e: unknown) => e)
    t.ok(isAppError(err) && err.code === 'CULEX_ERR_PLUGIN', file)
    t.match((err as Error).message, re)
  }
})

t.test('routes: longest path first, methods, public only when every route of the path is', async t => {
  const seen: string[] = []
  const mk = (tag: string) => (): void => { seen.push(tag) }
  const routes = new PluginRoutes([
    { name: 'p1', hooks: { routes: [{ path: '/a', method: 'GET', handler: mk('a-get') }, { path: '/a', method: 'POST', public: true, handler: mk('a-post') }] } },
    { name: 'p2', hooks: { routes: [{ path: '/a/b/', handler: mk('ab-any') }, { path: '/c', public: true, method: 'PUT', handler: () => { throw new Error('boom') } }] } }
  ])
  t.equal(routes.size, 4)
  t.ok(routes.has('/a') && routes.has('/a/x') && routes.has('/a/b') && !routes.has('/ab') && !routes.has('/b'))
  const req = {} as never
  const info = { pathname: '', url: new URL('http://x/'), identity: null }
  await routes.match('/a/b/c', 'DELETE')!.serve(req, req, info)
  await routes.match('/a/x', 'GET')!.serve(req, req, info)
  t.same(seen, ['ab-any', 'a-get'])
  t.equal(routes.match('/a', 'GET')!.public, false)
  t.equal(routes.match('/a', 'POST')!.public, true)
  const wrong = routes.match('/a', 'PUT')!
  t.equal(wrong.public, false, 'a 405 is public only if every route of the path is')
  await t.rejects(wrong.serve(req, req, info), { name: 'RouteMethodError', allow: 'GET, POST' })
  t.equal(routes.match('/c', 'GET')!.public, true)
  await t.rejects(routes.match('/c', 'PUT')!.serve(req, req, info), { message: 'plugin "p2" route /c: boom' })
  t.equal(routes.match('/d', 'GET'), undefined)
})
