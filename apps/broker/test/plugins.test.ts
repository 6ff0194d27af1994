// Plugins: the config key, loading (built-in names, paths, errors) and how plugin hooks
// compose with the password/ACL hooks, in process. The built-in plugins against a real HTTP
// server and real tokens, through the real culex process: plugins-http-auth.test.ts and
// plugins-jwt-auth.test.ts.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { join } from 'node:path'
import { pino } from 'pino'
import mqtt from 'mqtt'
import type { Client, StoredMessage } from '@culex/broker'
import type { PublishPacket, ConnectPacket } from '@culex/packet'
import { parseConfigText, finalize } from '../src/config.ts'
import { loadPlugins, composeHooks, type LoadedPlugin } from '../src/plugins/index.ts'
import { isAppError } from '../src/errors.ts'
import { levelsMatch } from '../src/plugins/options.ts'
import { filterMatches } from '../src/topic-match.ts'
import fc from 'fast-check'
import { hashPassword } from '../src/passwd.ts'
import { startCulex, tempDir } from './helpers/culex.ts'

const silent = pino({ level: 'silent' })
const client = { id: 'c1', username: 'u', protocolVersion: 5, info: {}, connected: true, keepalive: 60, close () {} } as unknown as Client
const pub = (topic: string): PublishPacket => ({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, dup: false, retain: false }) as PublishPacket
const msg = (topic: string): StoredMessage => ({ topic, payload: Buffer.alloc(0), qos: 0, retain: false })

t.test('plugins: in the config file', async t => {
  const o = parseConfigText('plugins:\n  - culex:jwt-auth\n  - module: ./mine.mjs\n    options:\n      a: 1\n', '/x/c.yaml')
  t.same(o.plugins, [{ module: 'culex:jwt-auth', options: {} }, { module: './mine.mjs', options: { a: 1 } }])
  t.same(finalize(o, '/srv').plugins, [{ module: 'culex:jwt-auth', options: {}, baseDir: '/srv' }, { module: './mine.mjs', options: { a: 1 }, baseDir: '/srv' }])
  t.same(finalize({}, '/srv').plugins, [], 'none by default')
  t.same(parseConfigText('plugins:\n', '/x/c.yaml').plugins, undefined, 'empty key ignored')
  for (const bad of ['plugins: culex:jwt-auth', 'plugins:\n  - 3', 'plugins:\n  - module: x\n    option: {}', 'plugins:\n  - module: x\n    options: [1]', 'plugins:\n  - {}']) {
    t.throws(() => parseConfigText(bad, '/x/c.yaml'), { code: 'CULEX_ERR_CONFIG_FILE', message: /key "plugins"/ }, bad)
  }
})

t.test('loading: errors name the plugin and the cause', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'none.mjs'), 'export const x = 1\n')
  writeFileSync(join(dir, 'notfn.mjs'), 'export const authenticate = 1\n')
  writeFileSync(join(dir, 'throws.mjs'), 'export default function () { throw new Error("bad option url") }\n')
  writeFileSync(join(dir, 'early.mjs'), 'export default function (ctx) { ctx.broker; return {} }\n')
  const rows: Array<[string, Record<string, unknown>, RegExp]> = [
    ['culex:nope', {}, /expected a built-in plugin/],
    ['./missing.mjs', {}, /expected a loadable ES module/],
    ['no-such-package-culex', {}, /expected a loadable ES module/],
    ['./none.mjs', {}, /expected an init function or at least one hook/],
    ['./notfn.mjs', {}, /expected authenticate to be a function/],
    ['./throws.mjs', {}, /init failed: bad option url/],
    ['./early.mjs', {}, /init failed: the engine does not exist yet/],
    ['culex:http-auth', {}, /expected at least one of them/],
    ['culex:http-auth', { authUrl: 'ftp://x' }, /option authUrl: expected an http/],
    ['culex:http-auth', { authUrl: 'http://x', timeout: -1 }, /option timeout: expected an integer/],
    ['culex:http-auth', { authUrl: 'http://x', bogus: 1 }, /unknown option "bogus"/],
    ['culex:jwt-auth', {}, /expected exactly one of them/],
    ['culex:jwt-auth', { secret: 'short' }, /at least 32 bytes/],
    ['culex:jwt-auth', { publicKeyFile: 'missing.pem' }, /option publicKeyFile: expected a readable file/],
    ['culex:jwt-auth', { publicKeyFile: 'none.mjs' }, /expected a PEM public key/]
  ]
  for (const [module, options, re] of rows) {
    const err = await loadPlugins([{ module, options, baseDir: dir }], silent).then(() => undefined, (e: unknown) => e)
    t.ok(isAppError(err) && err.code === 'CULEX_ERR_PLUGIN', `${module} ${JSON.stringify(options)}: CULEX_ERR_PLUGIN`)
    t.match((err as Error).message, re, module)
  }
})

t.test('loading: init gets options, a logger, the engine from ready() on; close() runs', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'p.mjs'), `
export const calls = []
export default function init (ctx) {
  calls.push(['init', ctx.options.tag, typeof ctx.logger.info, ctx.resolvePath('k.pem')])
  return {
    authenticate: () => true,
    ready () { calls.push(['ready', ctx.broker.id]) },
    close () { calls.push(['close']) }
  }
}
`)
  writeFileSync(join(dir, 'hooks.mjs'), 'export function authorizePublish () { return true }\nexport const name = "plain hooks"\n')
  const loaded = await loadPlugins([{ module: './p.mjs', options: { tag: 'x' }, baseDir: dir }, { module: join(dir, 'hooks.mjs'), options: {}, baseDir: '/' }], silent)
  t.same(loaded.plugins.map(p => p.name), ['./p.mjs', 'plain hooks'])
  await loaded.start({ id: 'node-1' } as never)
  await loaded.close()
  const mod = await import(join(dir, 'p.mjs')) as { calls: unknown[] }
  t.same(mod.calls, [['init', 'x', 'function', join(dir, 'k.pem')], ['ready', 'node-1'], ['close']])
})

function plugin (name: string, hooks: LoadedPlugin['hooks']): LoadedPlugin {
  return { name, hooks }
}

t.test('composition: every source must allow; the first refusal answers', async t => {
  t.same(composeHooks({}, [], silent), {}, 'nothing to install')
  const file = {
    authenticate: (_c: Client, u: string | undefined) => u === 'u',
    authorizePublish: (_c: Client, p: PublishPacket) => p.topic.startsWith('ok/') || p.topic.startsWith('both/'),
    authorizeForward: (_c: Client, m: StoredMessage) => m.topic.startsWith('file-denied/') ? null : m
  }
  const errors: unknown[] = []
  const logger = pino({ level: 'error' }, { write: (s: string) => { errors.push(JSON.parse(s)) } })
  const hooks = composeHooks(file, [
    plugin('a', {
      preConnect: (c: Client) => c.id === 'banned' ? { reasonCode: 0x8a } : true,
      authenticate: async (_c, _u, p) => p?.toString() === 'pw' ? true : { reasonCode: 0x87 },
      authorizePublish: async (_c, p) => p.topic !== 'ok/blocked',
      authorizeSubscribe: (_c, s) => s.topic === 'q/#' ? 1 : s.topic !== 'no',
      authorizeRead: (_c, topic) => topic !== 'ok/hidden'
    }),
    plugin('b', {
      authorizeSubscribe: async (_c, s) => s.topic === 'q/#' ? 0 : s.topic === 'code' ? 0x9e : true,
      authorizeRead: (_c, topic) => { if (topic === 'boom') throw new Error('bug'); return true }
    })
  ], logger)
  t.same(Object.keys(hooks).sort(), ['authenticate', 'authorizeForward', 'authorizePublish', 'authorizeSubscribe', 'preConnect'])

  t.same(hooks.preConnect!(client, {} as ConnectPacket), true)
  t.same(hooks.preConnect!({ ...client, id: 'banned' } as Client, {} as ConnectPacket), { reasonCode: 0x8a })
  t.same(await hooks.authenticate!(client, 'u', Buffer.from('pw')), true, 'file and plugin allow')
  t.same(await hooks.authenticate!(client, 'x', Buffer.from('pw')), false, 'the file refuses first (sync, the plugin is not asked)')
  t.same(await hooks.authenticate!(client, 'u', Buffer.from('nope')), { reasonCode: 0x87 }, 'the plugin refuses')

  t.equal(await hooks.authorizePublish!(client, pub('ok/a')), true)
  t.equal(await hooks.authorizePublish!(client, pub('ok/blocked')), false, 'plugin refuses')
  t.equal(await hooks.authorizePublish!(client, pub('elsewhere')), false, 'file refuses')

  t.equal(await hooks.authorizeSubscribe!(client, { topic: 'q/#', qos: 2 }), 0, 'QoS caps: the lower wins')
  t.equal(await hooks.authorizeSubscribe!(client, { topic: 'no', qos: 1 }), false)
  t.equal(await hooks.authorizeSubscribe!(client, { topic: 'code', qos: 1 }), 0x9e, 'a reason code is passed on')
  t.equal(await hooks.authorizeSubscribe!(client, { topic: 'any', qos: 1 }), true)

  const m = msg('ok/x')
  t.equal(hooks.authorizeForward!(client, m), m, 'read allowed by all')
  t.equal(hooks.authorizeForward!(client, msg('ok/hidden')), null, 'plugin authorizeRead refuses')
  t.equal(hooks.authorizeForward!(client, msg('file-denied/x')), null, 'ACL refuses')
  t.equal(hooks.authorizeForward!(client, msg('boom')), null, 'a throwing authorizeRead refuses')
  t.match(errors, [{ hook: 'authorizeRead', plugin: 'b' }], 'and is logged')
})

t.test('composition: throwing and rejecting hooks refuse and are logged', async t => {
  const errors: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'error' }, { write: (s: string) => { errors.push(JSON.parse(s)) } })
  const hooks = composeHooks({ authorizePublish: () => true }, [
    plugin('x', {
      authenticate: () => { throw new Error('sync') },
      preConnect: async () => { throw new Error('async') },
      authorizePublish: async () => { throw new Error('pub') },
      authorizeSubscribe: () => { throw new Error('sub') }
    })
  ], logger)
  t.same(await hooks.authenticate!(client, 'u', undefined), { reasonCode: 0x87, reasonString: 'authorization backend error' })
  t.same(await hooks.preConnect!(client, {} as ConnectPacket), { reasonCode: 0x87, reasonString: 'authorization backend error' })
  t.equal(await hooks.authorizePublish!(client, pub('a')), false)
  t.equal(await hooks.authorizeSubscribe!(client, { topic: 'a', qos: 0 }), false, 'a lone plugin hook is wrapped too')
  t.same(errors.map(e => e.hook), ['authenticate', 'preConnect', 'authorizePublish', 'authorizeSubscribe'])
  const only = { authorizePublish: () => true }
  t.equal(composeHooks(only, [plugin('p', { authenticate: () => true })], silent).authorizePublish, only.authorizePublish, 'a lone file hook is used as is')
  t.same(composeHooks({ authorizeForward: file => file as never }, [plugin('p', { authenticate: () => true })], silent).authorizeForward !== undefined, true, 'ACL forward kept without readers')
})

t.test('a plugin file through the real culex: preConnect, ready(), composed with the password and ACL files', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'passwd'), `alice:${hashPassword('secret')}\n`)
  writeFileSync(join(dir, 'acl'), 'user alice\ntopic readwrite t/#\n')
  writeFileSync(join(dir, 'guard.mjs'), `
export default function init (ctx) {
  return {
    name: 'guard',
    preConnect: (client) => client.id.startsWith('banned-') ? { reasonCode: 0x8a, reasonString: 'banned by guard' } : true,
    authenticate: (client) => client.id.startsWith('nope-') ? { reasonCode: 0x87 } : true,
    authorizePublish: (client, packet) => packet.topic !== 't/blocked',
    ready () { ctx.broker.on('client', (c) => ctx.logger.info({ clientId: c.id, tag: ctx.options.tag }, 'guard saw a client')) }
  }
}
`)
  writeFileSync(join(dir, 'culex.yaml'), 'password-file: passwd\nacl-file: acl\nplugins:\n  - module: ./guard.mjs\n    options:\n      tag: hello\n')
  const culex = await startCulex(t, ['-c', 'culex.yaml'], { cwd: dir })
  t.match(culex.logs.find(l => l.msg === 'culex broker started'), { plugins: ['guard'] })
  const url = `mqtt://127.0.0.1:${culex.ports.mqtt}`
  const connect = async (clientId: string, password: string): Promise<mqtt.MqttClient | number> => {
    try {
      const c = await mqtt.connectAsync(url, { clientId, username: 'alice', password, protocolVersion: 5, reconnectPeriod: 0 })
      t.teardown(() => c.end(true))
      return c
    } catch (err) {
      return (err as { code: number }).code
    }
  }
  t.equal(await connect('banned-1', 'secret'), 0x8a, 'preConnect refusal with its code')
  t.equal(await connect('a-1', 'wrong'), 0x86, 'password file refuses')
  t.equal(await connect('nope-1', 'secret'), 0x87, 'plugin refuses though the password is right')
  const c = await connect('a-2', 'secret') as mqtt.MqttClient
  t.type(c, mqtt.MqttClient, 'both allow')
  for (let i = 0; i < 100 && !culex.logs.some(l => l.msg === 'guard saw a client'); i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.ok(culex.logs.some(l => l.msg === 'guard saw a client' && l.clientId === 'a-2' && l.tag === 'hello' && l.plugin === './guard.mjs'), 'ready() used ctx.broker; options reached init; the logger names the plugin')
  await c.subscribeAsync('t/#', { qos: 1 })
  const got: string[] = []
  c.on('message', (topic) => got.push(topic))
  const puback = async (topic: string): Promise<number | undefined> => {
    const r = await c.publishAsync(topic, 'x', { qos: 1 }).catch((err: { code?: number }) => ({ reasonCode: err.code }))
    return (r as { reasonCode?: number } | undefined)?.reasonCode ?? 0
  }
  t.equal(await puback('t/blocked'), 0x87, 'plugin refuses the publish (ACL allows)')
  t.equal(await puback('other'), 0x87, 'ACL refuses the publish (plugin allows)')
  t.equal(await puback('t/ok'), 0, 'both allow')
  await new Promise(resolve => setTimeout(resolve, 100))
  t.same(got, ['t/ok'])
})

// ---- the built-in plugins in process, with an injected clock ----

t.test('http-auth in process: TTL cache, background refresh and read misses with a fake clock', async t => {
  const { default: httpAuth } = await import('../src/plugins/http-auth.ts')
  const asked: Array<Record<string, unknown>> = []
  let allow = true
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (d: Buffer) => { raw += String(d) })
    req.on('end', () => { asked.push(JSON.parse(raw) as Record<string, unknown>); res.writeHead(allow ? 200 : 403).end() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  let now = 1_000_000
  const hooks = httpAuth({ logger: silent, options: { authUrl: `${url}/auth`, aclUrl: `${url}/acl`, cacheTtl: 1000, cacheSize: 2, headers: { 'x-k': 'v' } } }, () => now)

  t.equal(await hooks.authenticate!(client, 'u', Buffer.from('p')), true)
  t.equal(await hooks.authenticate!(client, 'u', Buffer.from('p')), true)
  t.equal(asked.length, 1, 'second answer from the cache')
  now += 1000
  t.equal(await hooks.authenticate!(client, 'u', Buffer.from('p')), true)
  t.equal(asked.length, 2, 'expired after cacheTtl')
  t.same(asked[0], { clientId: 'c1', username: 'u', password: 'p' })
  const [x, y] = [hooks.authenticate!(client, undefined, undefined), hooks.authenticate!(client, undefined, undefined)]
  t.same(await Promise.all([x, y]), [true, true])
  t.equal(asked.length, 3, 'concurrent identical requests share one call')
  t.same(asked[2], { clientId: 'c1', username: null, password: null })

  // read grants
  t.equal(await hooks.authorizeSubscribe!(client, { topic: '$share/g/r/#', qos: 1 }), true)
  t.equal(hooks.authorizeRead!(client, 'r/1'), true, 'granted filter ($share looked through)')
  const n = asked.length
  now += 999
  t.equal(hooks.authorizeRead!(client, 'r/2'), true)
  t.equal(asked.length, n, 'fresh grant: nothing asked')
  allow = false
  now += 1
  t.equal(hooks.authorizeRead!(client, 'r/3'), true, 'stale grant still answers at once')
  t.equal(hooks.authorizeRead!(client, 'r/4'), true, 'one refresh at a time')
  for (let i = 0; i < 200 && asked.length === n; i++) await new Promise(resolve => setTimeout(resolve, 5))
  await new Promise(resolve => setTimeout(resolve, 20))
  t.match(asked[n], { topic: '$share/g/r/#', access: 'subscribe' }, 're-asked in the background')
  t.equal(asked.length, n + 1)
  t.equal(hooks.authorizeRead!(client, 'r/5'), false, 'grant revoked; unknown read refused')
  for (let i = 0; i < 200 && asked.length === n + 1; i++) await new Promise(resolve => setTimeout(resolve, 5))
  await new Promise(resolve => setTimeout(resolve, 20))
  t.match(asked[n + 1], { topic: 'r/5', access: 'read' })
  t.equal(hooks.authorizeRead!(client, 'r/5'), false, 'cached refusal')
  allow = true
  t.equal(await hooks.authorizeSubscribe!(client, { topic: '$share/g/r/#', qos: 1 }), false, 'the background refusal is cached')
  now += 1000
  t.equal(await hooks.authorizeSubscribe!(client, { topic: '$share/g/r/#', qos: 1 }), true)
  t.equal(await hooks.authorizeSubscribe!(client, { topic: '$share/g/r/#', qos: 1 }), true, 'granting the same filter again replaces the grant')
  t.equal(hooks.authorizeRead!(client, 'r/6'), true)
  t.equal(await hooks.authorizePublish!(client, pub('r/1')), true)
})

t.test('jwt-auth in process: exp, nbf and claims with a fake clock', async t => {
  const { default: jwtAuth } = await import('../src/plugins/jwt-auth.ts')
  const { SignJWT } = await import('jose')
  const dir = tempDir(t)
  const secret = 'x'.repeat(40)
  writeFileSync(join(dir, 'secret'), `${secret}\n`)
  let now = 1_700_000_000_000
  const hooks = jwtAuth({ logger: silent, options: { secretFile: 'secret', subscribeClaim: 'subs', clockTolerance: 5 }, resolvePath: p => join(dir, p) }, () => now)
  const sign = async (claims: Record<string, unknown>, exp: number, nbf?: number): Promise<Buffer> => {
    const j = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp)
    if (nbf !== undefined) j.setNotBefore(nbf)
    return Buffer.from(await j.sign(new TextEncoder().encode(secret)))
  }
  const s = now / 1000
  const c2 = { ...client, id: 'c2' } as Client
  t.equal(await hooks.authenticate!(client, 'u', await sign({ subs: 'a/#' }, s + 60)), true)
  t.equal(await hooks.authenticate!(c2, 'u', await sign({ subs: 'a/#' }, s + 60, s + 30)), false, 'nbf in the future')
  t.equal(await hooks.authenticate!(c2, 'u', await sign({ subs: 'a/#' }, s - 4)), true, 'within clockTolerance')
  t.equal(await hooks.authenticate!(c2, 'u', Buffer.alloc(0)), false, 'empty password')
  t.equal(hooks.authorizeRead!(client, 'a/b'), true)
  t.equal(hooks.authorizeRead!(client, 'b'), false)
  t.equal(await hooks.authorizePublish!(client, pub('anything')), true, 'no publishClaim: publishing is not restricted')
  t.equal(await hooks.authorizeSubscribe!({ ...client, id: 'unknown' } as Client, { topic: 'a/b', qos: 0 }), false, 'a client the plugin did not authenticate has no rights')
  now += 65_000 // past exp + tolerance
  t.equal(hooks.authorizeRead!(client, 'a/b'), false, 'expired')
  t.equal(await hooks.authorizePublish!(client, pub('anything')), false)
})

t.test('property: levelsMatch agrees with filterMatches', async t => {
  const level = fc.constantFrom('a', 'b', '', '+', 'ab', '$x')
  const filter = fc.array(level, { minLength: 1, maxLength: 5 }).chain(ls => fc.boolean().map(h => (h ? [...ls, '#'] : ls)))
  const topic = fc.array(fc.constantFrom('a', 'b', '', 'ab', '$x'), { minLength: 1, maxLength: 6 }).map(ls => ls.join('/'))
  fc.assert(fc.property(filter, topic, (f, tp) => levelsMatch(f, tp) === filterMatches(f.join('/'), tp)), { numRuns: 3000 })
  t.ok(levelsMatch(['#'], 'a/b') && levelsMatch(['a', '#'], 'a') && !levelsMatch(['a', '+'], 'a') && levelsMatch(['a', '+'], 'a/'))
})
