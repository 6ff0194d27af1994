// The files shipped for operators stay valid: examples/culex.yaml (with examples/acl) is read
// as written, and the real culex starts from it and enforces it; contrib/culex.service passes
// `systemd-analyze verify` without a warning.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { parseConfigText, finalize } from '../src/config.ts'
import { startCulex, runCulex, tempDir, hasBinary } from './helpers/culex.ts'

const APP = join(dirname(fileURLToPath(import.meta.url)), '..')
const CONFIG = join(APP, 'examples', 'culex.yaml')
const ACL = join(APP, 'examples', 'acl')
const UNIT = join(APP, 'contrib', 'culex.service')

t.test('examples/culex.yaml parses as written', async t => {
  const options = parseConfigText(readFileSync(CONFIG, 'utf8'), CONFIG)
  t.same(options, {
    host: '0.0.0.0',
    port: 1883,
    wsPort: 8080,
    passwordFile: '/etc/culex/passwd',
    aclFile: '/etc/culex/acl',
    store: 'level',
    dataDir: '/var/lib/culex',
    fsync: true,
    maxConnections: 10000,
    maxInflight: 100,
    maxQueuedMessages: 1000,
    maxPacketSize: 1048576,
    sysInterval: 10
  }, 'every key is a known option with the value the comments describe')
  const config = finalize(options, '/')
  t.equal(config.allowAnonymous, false, 'a password file and no allow-anonymous: anonymous clients are refused')
  t.same(config.store, { kind: 'level', dataDir: '/var/lib/culex', fsync: true }, 'fsynced LevelDB store in /var/lib/culex')
})

t.test('culex runs from examples/culex.yaml and enforces its password and ACL files', async t => {
  const dir = tempDir(t)
  const passwd = join(dir, 'passwd')
  const made = await runCulex(['passwd', '-c', '-b', passwd, 'alice', 'example secret'])
  t.equal(made.code, 0, 'culex passwd made the password file')

  // Flags win over the file: only what a test cannot use is replaced (loopback instead of
  // every interface, free ports, paths under a temp dir); the ACL file is the example's own.
  const culex = await startCulex(t, ['--config', CONFIG, '--host', '127.0.0.1', '--port', '0', '--ws-port', '0',
    '--store', 'level', '--data-dir', join(dir, 'data'), '--password-file', passwd, '--acl-file', ACL], { cwd: dir })
  t.ok(culex.ports.mqtt !== undefined && culex.ports.ws !== undefined, 'the MQTT and WebSocket listeners of the example are up')
  const started = culex.logs.find(l => l.msg === 'culex broker started')
  t.equal(started?.store, `level ${join(dir, 'data')}`, 'LevelDB store')
  t.equal(started?.users, 1, 'one user in the password file')
  t.equal(started?.aclRules, 6, 'the six rules of examples/acl')
  t.equal(started?.allowAnonymous, false, 'anonymous clients refused')

  const url = `mqtt://127.0.0.1:${culex.ports.mqtt}`
  const anonymous = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 }).then(() => null, (err: Error & { code?: number }) => err)
  t.equal(anonymous?.code, 0x87, 'a client without a username gets CONNACK 0x87 Not authorized')

  const alice = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, username: 'alice', password: 'example secret' })
  t.teardown(() => { alice.end(true) })
  const granted = await alice.subscribeAsync('sensors/#', { qos: 1 })
  t.same(granted.map(g => g.qos), [1], 'sensors/# granted at QoS 1')
  const refused = await alice.subscribeAsync('clients/other/#', { qos: 1 }).then(() => null, (err: Error) => err)
  t.match(refused?.message, /Not authorized/, 'another client\'s subtree is refused in the SUBACK by the ACL')
  const got = new Promise<string>(resolve => alice.once('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`)))
  await alice.publishAsync('sensors/t1', '21.5', { qos: 1 })
  t.equal(await got, 'sensors/t1 21.5', 'alice publishes and receives on sensors/#')
  const denied = await alice.publishAsync('sensors/admin/reset', 'now', { qos: 1 }).then(() => null, (err: Error & { code?: number }) => err)
  t.equal(denied?.code, 0x87, 'a publish under sensors/admin/# gets PUBACK 0x87 (deny rule of the example ACL)')
})

t.test('contrib/culex.service passes systemd-analyze verify', {
  skip: hasBinary('systemd-analyze') ? false : 'systemd-analyze (Debian systemd) not installed'
}, async t => {
  const text = readFileSync(UNIT, 'utf8')
  t.match(text, /^ExecStart=\/usr\/bin\/culex --config \/etc\/culex\/culex\.yaml$/m, 'starts culex with the example config\'s installed path')
  // verify checks that ExecStart's program exists: point it at this repository's bin.
  const dir = tempDir(t)
  const unit = join(dir, 'culex.service')
  writeFileSync(unit, text.replace('ExecStart=/usr/bin/culex', `ExecStart=${join(APP, 'bin', 'culex.js')}`))
  const r = await new Promise<{ code: number, stderr: string }>(resolve => {
    execFile('systemd-analyze', ['verify', unit], { timeout: 20_000 }, (err, _out, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : 1), stderr })
    })
  })
  t.equal(r.code, 0, 'systemd-analyze verify exits 0')
  t.equal(r.stderr, '', 'and reports nothing (no unknown key, no bad value)')
})
