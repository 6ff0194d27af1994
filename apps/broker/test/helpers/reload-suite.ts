// SIGHUP reload tests, run against the real culex process (reload.test.ts, a real SIGHUP)
// and against startServer in this process (reload-in-process.test.ts, server.reload()).
import tls from 'node:tls'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { makePki, type Pki } from './culex.ts'
import { request } from './http.ts'
import type { Target } from './operator-suite.ts'
import { hashPassword } from '../../src/passwd.ts'

/** The files a reload test rewrites. */
export interface ReloadFiles {
  args: string[]
  passwd: string
  acl: string
  cert: string
  key: string
  pki1: Pki
  pki2: Pki
}

/** Make two PKIs, the password and ACL files; the server starts on the first PKI. */
export function reloadFiles (dir: string): ReloadFiles {
  const sub = (name: string): string => {
    mkdirSync(join(dir, name))
    return join(dir, name)
  }
  const pki1 = makePki(sub('pki1'))
  const pki2 = makePki(sub('pki2'))
  const cert = join(dir, 'server.pem')
  const key = join(dir, 'server.key')
  copyFileSync(pki1.cert, cert)
  copyFileSync(pki1.key, key)
  const passwd = join(dir, 'passwd')
  const acl = join(dir, 'acl')
  writeFileSync(passwd, `alice:${hashPassword('wonder')}\n`)
  writeFileSync(acl, 'user alice\ntopic readwrite alice/#\n')
  return {
    args: ['--password-file', passwd, '--acl-file', acl, '--tls-port', '0', '--http-port', '0', '--https-port', '0', '--cert', cert, '--key', key, '--sys-interval', '0'],
    passwd,
    acl,
    cert,
    key,
    pki1,
    pki2
  }
}

/**
 * @param hup - sends the reload (SIGHUP, or server.reload())
 * @param alive - whether the broker still runs
 */
export function reloadSuite (t: Test, culex: Target, files: ReloadFiles, hup: () => void, alive: () => boolean): void {
  const { passwd, acl, cert, key, pki1, pki2 } = files

  async function logged (msg: string, from: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 5000
    for (;;) {
      const hit = culex.logs.slice(from).find((l) => l.msg === msg)
      if (hit !== undefined) return hit
      if (Date.now() > deadline) throw new Error(`no log line "${msg}"; last: ${JSON.stringify(culex.logs.slice(-3))}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  async function sighup (...msgs: string[]): Promise<Array<Record<string, unknown>>> {
    const from = culex.logs.length
    hup()
    const out = []
    for (const m of msgs) out.push(await logged(m, from))
    return out
  }

  /** The SHA-256 fingerprint of the certificate a new TLS handshake on `port` presents. */
  function servedCert (port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
        const fp = s.getPeerCertificate().fingerprint256
        s.destroy()
        resolve(fp)
      })
      s.on('error', reject)
    })
  }

  const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256

  async function client (opts: mqtt.IClientOptions): Promise<MqttClient> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${culex.ports.mqtt}`, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts })
    t.teardown(() => { c.end(true) })
    return c
  }

  t.test('password and ACL files: new users and rights apply, connections stay', async (t) => {
    const alice = await client({ username: 'alice', password: 'wonder', clientId: 'alice-1' })
    let aliceClosed = false
    alice.on('close', () => { aliceClosed = true })
    const got: string[] = []
    alice.on('message', (topic) => { got.push(topic) })
    await alice.subscribeAsync('alice/#', { qos: 1 })
    await alice.publishAsync('alice/x', '1', { qos: 1 })
    // delivered to herself: the engine has decided (and cached) alice's read right on this topic
    await alice.publishAsync('alice/hidden/1', 'before', { qos: 1 })
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    t.same(got, ['alice/x', 'alice/hidden/1'], 'alice reads her tree before the reload')
    await t.rejects(client({ username: 'carol', password: 'sea' }), 'carol is not in the password file yet')
    t.equal((await request(culex.ports.http!, '/ready', { auth: 'carol:sea' })).status, 401)

    writeFileSync(passwd, `alice:${hashPassword('wonder')}\ncarol:${hashPassword('sea')}\n`)
    writeFileSync(acl, 'user alice\ntopic read alice/#\ntopic deny alice/hidden/#\nuser carol\ntopic readwrite carol/#\ntopic write alice/#\n')
    const [line] = await sighup('reload: password and ACL files loaded')
    t.match(line, { users: 2, aclRules: 4 })

    const carol = await client({ username: 'carol', password: 'sea' })
    t.ok(carol.connected, 'carol may connect now')
    t.equal((await request(culex.ports.http!, '/ready', { auth: 'carol:sea' })).status, 200, 'and use HTTP')
    t.equal((await request(culex.ports.http!, '/resources/alice/y', { method: 'PUT', auth: 'alice:wonder', body: 'v' })).status, 403, 'HTTP sees the new ACL')
    await t.rejects(alice.publishAsync('alice/x', '2', { qos: 1 }), 'alice lost write on alice/#: her next PUBLISH is refused')
    got.length = 0
    await carol.publishAsync('alice/hidden/1', 'after', { qos: 1 })
    await carol.publishAsync('alice/ok', 'after', { qos: 1 })
    for (let i = 0; i < 100 && got.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.same(got, ['alice/ok'], 'the read right alice lost applies at once to her kept subscription (cached decisions dropped)')
    t.notOk(aliceClosed, 'alice stayed connected through the reload')
    t.equal(alive(), true, 'culex did not exit on the reload')
  })

  t.test('a bad password or ACL file keeps the old ones and says why', async (t) => {
    writeFileSync(acl, 'user carol\nthis is not an ACL line\n')
    const [line] = await sighup('reload: kept the previous password and ACL files')
    t.equal(line!.level, 50)
    t.match(line!.err, /line 2/)
    const carol = await client({ username: 'carol', password: 'sea' })
    await carol.publishAsync('carol/ok', 'still allowed', { qos: 1 })
    t.pass('the previous ACL is in force')
    writeFileSync(passwd, 'carol:not-a-hash\n')
    writeFileSync(acl, 'user carol\ntopic readwrite carol/#\n')
    await sighup('reload: kept the previous password and ACL files')
    t.equal((await request(culex.ports.http!, '/ready', { auth: 'carol:sea' })).status, 200, 'previous password file in force')
    t.equal(alive(), true)
  })

  t.test('TLS certificate and key: new handshakes get the new certificate; a mismatched pair keeps the old', async (t) => {
    const first = await servedCert(culex.ports.mqtts!)
    t.equal(first, fingerprint(pki1.cert), 'the first certificate is served')
    const mqtts = await mqtt.connectAsync(`mqtts://127.0.0.1:${culex.ports.mqtts}`, { reconnectPeriod: 0, ca: pki1.caPem, username: 'carol', password: 'sea', protocolVersion: 5 })
    t.teardown(() => { mqtts.end(true) })
    let closed = false
    mqtts.on('close', () => { closed = true })

    copyFileSync(pki2.cert, cert)
    copyFileSync(pki2.key, key)
    await sighup('reload: TLS certificate and key loaded (new handshakes use them)')
    const second = await servedCert(culex.ports.mqtts!)
    t.equal(second, fingerprint(pki2.cert), 'mqtts: the new certificate')
    t.equal(await servedCert(culex.ports.https!), second, 'https: the new certificate')
    const fresh = await mqtt.connectAsync(`mqtts://127.0.0.1:${culex.ports.mqtts}`, { reconnectPeriod: 0, ca: pki2.caPem, username: 'carol', password: 'sea' })
    t.ok(fresh.connected, 'a client trusting only the new CA connects')
    await fresh.endAsync()
    await mqtts.publishAsync('carol/t', 'old connection', { qos: 1 })
    t.notOk(closed, 'the connection made with the old certificate stays')

    copyFileSync(pki1.key, key) // does not match pki2's certificate
    const [line] = await sighup('reload: kept the previous TLS certificate and key')
    t.match(line!.err, /certificate and key/)
    t.equal(await servedCert(culex.ports.mqtts!), second, 'still the second certificate')
    t.equal(alive(), true)
  })
}
