// The kit against the real programs it starts: culex (built), redis-server, redis-cli,
// mosquitto, openssl. A missing program is a tap skip with its reason.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import {
  culexMissing, culexSkip, cleanEnv, errorClassTest, freePort, hasBinary, isListening, makeCert, makePki, missing, mosquittoMissing,
  redisMissing, runCulex, runtimeImporters, startCulex, startMosquitto, startProcess, startRedis, startRedisCluster, tail,
  tempDir, waitForPort, within, which
} from '../src/index.ts'

// a killed orphan stays a zombie where PID 1 does not reap (containers): that is dead too
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

const node = (script: string): string[] => ['-e', script]

t.test('freePort gives a port nothing listens on, that can be bound; waitForPort waits for it', async (t) => {
  const port = await freePort()
  t.equal(await isListening(port), false, 'nothing listens there')
  await t.rejects(waitForPort(port, { timeoutMs: 100 }), { message: `nothing listens on 127.0.0.1:${port} after 100 ms` })
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve))
  t.teardown(() => { s.close() })
  await waitForPort(port, { timeoutMs: 1000 })
  t.equal(await isListening(port), true, 'listening once bound')
})

t.test('missing names the absent programs and their Debian packages; which finds sbin daemons', async (t) => {
  t.equal(missing('node'), false, 'node is installed')
  t.equal(hasBinary('node'), true)
  t.equal(hasBinary('culex-no-such-program'), false)
  t.equal(which('node') !== undefined && existsSync(which('node')!), true)
  t.equal(missing('culex-no-such-program'), 'culex-no-such-program not installed')
  t.equal(missing('node', 'culex-no-such-program', 'culex-no-such-2'), 'culex-no-such-program, culex-no-such-2 not installed')
  t.equal(which('/culex/no/such/path'), undefined)
  t.equal(which(process.execPath), process.execPath, 'an absolute path is checked as given')
  const redis = which('redis-server')
  t.equal(redisMissing(), redis === undefined ? 'redis-server not installed (Debian package redis-server)' : false)
  const mosq = which('mosquitto')
  t.equal(mosquittoMissing(), mosq === undefined ? 'mosquitto not installed (Debian package mosquitto)' : false)
})

t.test('startProcess: ready on a line, output kept, stopped by PID', async (t) => {
  const p = await startProcess({
    name: 'echo',
    command: process.execPath,
    args: node("console.error('starting'); console.log('ready now'); process.on('SIGTERM', () => { console.log('bye'); process.exit(3) }); setInterval(() => {}, 1000)"),
    readyLine: (line, stream) => stream === 'stdout' && line === 'ready now'
  })
  t.equal(alive(p.pid), true, 'running')
  t.equal(p.stderr(), 'starting\n')
  t.equal(p.stdout(), 'ready now\n')
  t.match(p.log(), /starting\n/)
  const exit = await p.stop()
  t.same(exit, { code: 3, signal: null }, 'SIGTERM handled by the process')
  t.equal(p.stdout(), 'ready now\nbye\n', 'output after ready kept too')
  t.same(await p.stop(), exit, 'stopping again answers the same exit')
  t.equal(alive(p.pid), false, 'gone')
})

t.test('startProcess: SIGKILL after the grace period', async (t) => {
  const p = await startProcess({
    name: 'stubborn',
    command: process.execPath,
    args: node("process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)"),
    readyLine: (line) => line === 'up'
  })
  t.same(await p.stop('SIGTERM', 200), { code: null, signal: 'SIGKILL' })
})

t.test('startProcess: ready when readyWhen resolves', async (t) => {
  const port = await freePort()
  const p = await startProcess({
    name: 'listener',
    command: process.execPath,
    args: node(`require('net').createServer().listen(${port}, '127.0.0.1')`),
    readyWhen: async () => { await waitForPort(port) }
  })
  t.teardown(() => p.stop('SIGKILL'))
  t.equal(await isListening(port), true)
})

t.test('startProcess: a readyWhen probe is told to stop once the start is over, so a failed start leaves no poller behind', async (t) => {
  const port = await freePort()
  let seen: AbortSignal | undefined
  let probe: Promise<void> | undefined
  const began = Date.now()
  await t.rejects(startProcess({
    name: 'dropout',
    command: process.execPath,
    args: node('process.exit(5)'),
    readyWhen: async (_p, signal) => {
      seen = signal
      probe = waitForPort(port, { timeoutMs: 10_000, signal })
      await probe
    }
  }), { message: /^dropout exited \(5\) before it was ready/ })
  t.equal(seen?.aborted, true, 'the signal is aborted when the start fails')
  await t.rejects(probe!, { message: `stopped waiting for 127.0.0.1:${port}: the wait was aborted` })
  t.ok(Date.now() - began < 5000, 'the port probe ended with the start, not after its own 10 s timeout')

  const ac = new AbortController()
  ac.abort()
  await t.rejects(waitForPort(port, { signal: ac.signal }), { message: /the wait was aborted/ }, 'an aborted wait rejects at once')
})

t.test('startProcess: exits, times out or cannot start before ready → rejected with the output, nothing left running', async (t) => {
  await t.rejects(startProcess({
    name: 'quitter',
    command: process.execPath,
    args: node("console.log('no luck'); process.exit(4)"),
    readyLine: () => false
  }), { message: 'quitter exited (4) before it was ready; output:\nno luck\n' })

  let pid = -1
  await t.rejects(startProcess({
    name: 'sleeper',
    command: process.execPath,
    args: node('console.log(process.pid); setInterval(() => {}, 1000)'),
    readyLine: (line) => { pid = Number(line); return false },
    timeoutMs: 1000
  }), { message: /^sleeper not ready within 1000 ms; output:\n\d+\n$/ })
  t.equal(pid > 0 && !alive(pid), true, 'the timed-out process was killed')

  await t.rejects(startProcess({ name: 'ghost', command: '/culex/no/such/program', args: [], readyLine: () => true }), { message: /^ghost could not be started: spawn \/culex\/no\/such\/program ENOENT/ })
})

t.test('a process started by the kit is killed when the test process exits without teardown', async (t) => {
  const kit = fileURLToPath(new URL('../dist/index.js', import.meta.url))
  const script = `const { startProcess } = await import(${JSON.stringify(kit)})
const p = await startProcess({ name: 'orphan', command: process.execPath, args: ['-e', "console.log('up'); setInterval(() => {}, 1000)"], readyLine: (l) => l === 'up' })
console.log(p.pid)
process.exit(0)`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  const pid = Number(out.trim())
  t.ok(Number.isInteger(pid) && pid > 0, `the child started ${pid}`)
  t.equal(alive(pid), false, 'and it did not outlive its test process')
})

t.test('within: the value, or the fallback after the time; no timer left behind either way', async (t) => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  t.equal(await within(Promise.resolve('on time'), 60_000, 'late'), 'on time')
  t.equal(timers(), before, 'the 60 s timer was cleared when the promise won')
  const began = Date.now()
  t.equal(await within(new Promise<string>(() => {}), 20, 'late'), 'late')
  t.ok(Date.now() - began >= 15, 'the fallback came after the time')
  await t.rejects(within(Promise.reject(new Error('boom')), 60_000, 'late'), { message: 'boom' })
  t.equal(timers(), before, 'and cleared when the promise failed')
})

// a class shaped like one of @culex/errors' defineErrors (brand + registry), to drive the check
const KIT_BRAND = Symbol.for('culex.error')
const KitErrorCodes = { a: 'KIT_ERR_A', b: 'KIT_ERR_B' } as const
type KitCode = typeof KitErrorCodes[keyof typeof KitErrorCodes]
class KitError extends Error {
  static readonly registry: Record<KitCode, object> = { KIT_ERR_A: {}, KIT_ERR_B: {} }
  readonly code: KitCode
  constructor (code: KitCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'KitError'
    this.code = code
    Object.defineProperty(this, KIT_BRAND, { value: 'KitError' })
  }

  static override [Symbol.hasInstance] (v: unknown): boolean {
    const o = v as { [KIT_BRAND]?: unknown, code?: unknown } | null
    return typeof o === 'object' && o !== null && o[KIT_BRAND] === 'KitError' && typeof o.code === 'string' && o.code in KitError.registry
  }
}

t.test('errorClassTest checks an error class made the @culex/errors way', async (t) => {
  errorClassTest(t, { ErrorClass: KitError, isError: (v) => v instanceof KitError, codes: KitErrorCodes, codesName: 'KitErrorCodes', code: 'KIT_ERR_A' })
})

t.test('tail keeps the end of a long log', async (t) => {
  t.equal(tail('abc', 3), 'abc')
  t.equal(tail('abcdef', 3), '…def')
})

t.test('runtimeImporters: the built modules that import a package at run time', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'a.js'), 'import { Broker } from "@culex/broker"\n')
  writeFileSync(join(dir, 'b.js'), 'const m = await import( \'@culex/broker\' )\n')
  writeFileSync(join(dir, 'c.js'), 'import { x } from "@culex/broker-extra"\nimport { y } from "@culex/packet"\n')
  writeFileSync(join(dir, 'd.d.ts'), 'import type { Broker } from "@culex/broker"\n')
  t.same(runtimeImporters(dir, '@culex/broker'), ['a.js', 'b.js'], 'static and dynamic imports; another package and .d.ts files do not count')
  t.same(runtimeImporters(new URL(`file://${dir}/`), '@culex/packet'), ['c.js'], 'a file: URL works too')
  t.throws(() => runtimeImporters(tempDir(t), '@culex/broker'), /no built module/, 'an empty folder is an error, not a pass')
})

t.test('tempDir is removed at teardown', async (t) => {
  let dir = ''
  await t.test('inner', async (t) => {
    dir = tempDir(t, 'culex-kit-')
    t.equal(existsSync(dir), true)
  })
  t.equal(existsSync(dir), false)
})

t.test('cleanEnv drops CULEX_*, NODE_OPTIONS and coverage variables, adds extras', async (t) => {
  process.env.CULEX_KIT_PROBE = '1'
  t.teardown(() => { delete process.env.CULEX_KIT_PROBE })
  const env = cleanEnv({ CULEX_PORT: '7' })
  t.equal(env.CULEX_KIT_PROBE, undefined)
  t.equal(env.NODE_OPTIONS, undefined)
  t.equal(env.CULEX_PORT, '7')
  t.equal(env.PATH, process.env.PATH)
})

t.test('makeCert and makePki write PEM files (openssl)', { skip: missing('openssl') }, async (t) => {
  const a = makeCert()
  t.equal(makeCert().cert, a.cert, 'made once per process')
  t.match(readFileSync(a.cert, 'utf8'), /^-----BEGIN CERTIFICATE-----/)
  t.match(readFileSync(a.key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
  const pki = makePki(tempDir(t))
  for (const pem of [pki.caPem, pki.clientCertPem]) t.match(pem.toString(), /^-----BEGIN CERTIFICATE-----/)
  t.match(pki.clientKeyPem.toString(), /^-----BEGIN PRIVATE KEY-----/)
  const verify = spawnSync('openssl', ['verify', '-CAfile', pki.ca, pki.cert, pki.clientCert], { encoding: 'utf8' })
  t.equal(verify.status, 0, `both certificates chain to the CA: ${verify.stdout}${verify.stderr}`)
})

t.test('culex: started on free ports, log kept, restarted on the same ports, stopped by PID', { skip: culexMissing() }, async (t) => {
  const dir = tempDir(t)
  const c = await startCulex(t, ['--store', 'memory', '--ws-port', '0', '--sys-interval', '0'], { cwd: dir, env: { CULEX_LOG_LEVEL: 'info' } })
  t.equal(c.port, c.ports.mqtt)
  t.same(Object.keys(c.ports).sort(), ['mqtt', 'ws'])
  t.equal(await isListening(c.port), true, 'MQTT port open')
  t.equal(await isListening(c.ports.ws!), true, 'WebSocket port open')
  t.equal(c.logs.filter((l) => l.ready === true).length, 1, 'one ready line')
  t.equal(c.stderr(), '')
  t.match(c.log(), /"ready":true/)
  const { port, pid } = c
  const first = c.exited
  await c.restart()
  t.same(await first, { code: 0, signal: null }, 'the first process ended cleanly on SIGTERM')
  t.not(c.pid, pid, 'a new process')
  t.equal(c.port, port, 'on the same MQTT port')
  t.equal(c.logs.filter((l) => l.ready === true).length, 2, 'logs kept across the restart')
  t.same(await c.stop('SIGKILL'), { code: null, signal: 'SIGKILL' })
  t.equal(alive(c.pid), false)
})

t.test('culex: a bad option exits before ready with its message; runCulex runs to completion', { skip: culexMissing() }, async (t) => {
  await t.rejects(startCulex(t, ['--no-such-option']), { message: /exited \(2\) before it was ready; output:\n[\s\S]*no-such-option/ })
  const v = await runCulex(['--version'])
  t.equal(v.code, 0)
  t.match(v.stdout, /^culex \d+\.\d+\.\d+/)
})

t.test('culexSkip fails under CI only when culex is not built', async (t) => {
  const failures: string[] = []
  const reason = culexSkip({ fail: (m: string) => failures.push(m) }, 'the probe')
  if (culexMissing() === false) {
    t.equal(reason, false)
    t.same(failures, [])
  } else {
    t.equal(reason === null, process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false')
  }
})

t.test('redis-server: ready, restarted on the same port with its data, destroyed', { skip: redisMissing() }, async (t) => {
  const r = await startRedis([], { teardown: t })
  t.equal(r.url, `redis://127.0.0.1:${r.port}`)
  const cli = (...args: string[]): string => execFileSync('redis-cli', ['-p', String(r.port), ...args], { encoding: 'utf8' }).trim()
  t.equal(cli('set', 'k', 'v'), 'OK')
  t.match(r.log(), /Ready to accept connections/)
  const pid = r.pid
  await r.stop()
  t.equal(r.pid, -1)
  t.equal(alive(pid), false, 'stopped by PID')
  t.equal(await isListening(r.port), false)
  await r.start()
  t.equal(cli('get', 'k'), 'v', 'the append-only file brought the data back')
  await r.destroy()
  t.equal(await isListening(r.port), false)
})

t.test('redis-server: a server that cannot start is reported with its output', { skip: redisMissing() }, async (t) => {
  // a TLS port without certificates: not a port conflict, so not retried on another port
  await t.rejects(startRedis(['--tls-cert-file', '/culex/none.pem'], { tls: true }), { message: /redis-server on \d+ exited/ })
})

t.test('Redis Cluster of three masters', { skip: redisMissing() || missing('redis-cli') }, async (t) => {
  const c = await startRedisCluster(3, { teardown: t })
  t.equal(c.ports.length, 3)
  t.equal(c.url, `redis+cluster://${c.ports.map((p) => `127.0.0.1:${p}`).join(',')}`)
  for (const port of c.ports) {
    t.match(execFileSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }), /cluster_state:ok/)
  }
})

t.test('mosquitto: TCP, WebSocket, TLS and WSS listeners; stop and start on the same ports', { skip: mosquittoMissing({ tls: true }) }, async (t) => {
  const m = await startMosquitto(t, { ws: true, tls: true })
  t.equal(m.port, m.ports.tcp)
  t.equal(m.wsPort, m.ports.ws)
  t.equal(new Set(Object.values(m.ports)).size, 4, 'four distinct ports')
  for (const p of Object.values(m.ports)) t.equal(await isListening(p), true, `listening on ${p}`)
  t.match(m.ca, /^-----BEGIN CERTIFICATE-----/)
  const pid = m.pid
  await m.restart()
  t.not(m.pid, pid, 'a new process')
  t.equal(alive(pid), false, 'the old one stopped by PID')
  for (const p of Object.values(m.ports)) t.equal(await isListening(p), true, `listening on ${p} again`)
  await m.stop()
  t.equal(m.pid, -1)
  t.equal(await isListening(m.port), false)
})

t.test('mosquitto: a configuration it refuses is reported with its output', { skip: mosquittoMissing() }, async (t) => {
  await t.rejects(startMosquitto(t, { extra: 'culex_no_such_option true' }), { message: /^mosquitto on \d+ exited \(\d+\) before it was ready; output:\n[\s\S]*culex_no_such_option/ })
})

t.test('mosquitto: TCP only by default', { skip: mosquittoMissing() }, async (t) => {
  const m = await startMosquitto(t)
  t.same({ ws: m.ports.ws, tls: m.ports.tls, wss: m.ports.wss, ca: m.ca }, { ws: 0, tls: 0, wss: 0, ca: '' })
  t.equal(await isListening(m.port), true)
})
