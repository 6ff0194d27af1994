// Interop: Debian's mosquitto_pub / mosquitto_sub (not written here) against the real culex
// process: QoS 0/1/2, retained, will, password files made by `culex passwd` and by
// mosquitto_passwd, and ACL refusals answered in the SUBACK.
// These tests spawn dist/cli.js: they do not count toward this package's coverage.
import t from 'tap'
import { spawn, execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { missing } from '@culex/test-kit'
import { startCulex, runCulex, tempDir } from './helpers/culex.ts'

const skip = missing('mosquitto_pub', 'mosquitto_sub')

function pub (args: string[]): Promise<{ code: number | null, stderr: string }> {
  return new Promise(resolve => {
    execFile('mosquitto_pub', ['-h', '127.0.0.1', ...args], { timeout: 10_000 }, (err, _out, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : 1), stderr })
    })
  })
}

/** Start mosquitto_sub; resolves its output once it exits (-C count / -W timeout). */
function sub (t: { teardown: (fn: () => void) => void }, args: string[]): { done: Promise<{ code: number | null, out: string, err: string }>, kill: () => void } {
  const p = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-W', '8', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (p.exitCode === null) p.kill('SIGKILL') })
  let out = ''
  let err = ''
  p.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  p.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const done = new Promise<{ code: number | null, out: string, err: string }>(resolve => p.on('exit', code => resolve({ code, out, err })))
  return { done, kill: () => p.kill('SIGKILL') }
}

/** MQTT.js rejects a subscribe with any failure code, so read the SUBACK packet itself. */
function subackCodes (client: mqtt.MqttClient, filters: string[]): Promise<number[]> {
  const p = new Promise<number[]>(resolve => {
    const on = (pk: mqtt.Packet): void => {
      if (pk.cmd === 'suback') { client.off('packetreceive', on); resolve(pk.granted as number[]) }
    }
    client.on('packetreceive', on)
  })
  client.subscribe(filters, { qos: 1 }, () => {})
  return p
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

t.test('mosquitto clients: QoS 0/1/2, retained, will (3.1.1 and 5.0)', { skip }, async t => {
  const culex = await startCulex(t)
  const port = String(culex.ports.mqtt)
  for (const v of ['mqttv311', 'mqttv5']) {
    const base = `m/${v}`
    const s = sub(t, ['-p', port, '-V', v, '-q', '2', '-t', `${base}/#`, '-C', '3', '-v', '-i', `sub-${v}`])
    await sleep(300)
    for (const q of ['0', '1', '2']) {
      const r = await pub(['-p', port, '-V', v, '-q', q, '-t', `${base}/q${q}`, '-m', `payload-${q}`])
      t.equal(r.code, 0, `${v} mosquitto_pub QoS ${q} exits 0`)
    }
    const got = await s.done
    t.same(got.out.trim().split('\n').sort(), [`${base}/q0 payload-0`, `${base}/q1 payload-1`, `${base}/q2 payload-2`], `${v}: QoS 0/1/2 delivered`)

    t.equal((await pub(['-p', port, '-V', v, '-q', '1', '-r', '-t', `${base}/ret`, '-m', 'kept'])).code, 0)
    const r = await sub(t, ['-p', port, '-V', v, '-t', `${base}/ret`, '-C', '1', '-v']).done
    t.equal(r.out.trim(), `${base}/ret kept`, `${v}: retained message delivered to a new subscriber`)

    const w = sub(t, ['-p', port, '-V', v, '-t', `${base}/will`, '-C', '1', '-v'])
    const dying = sub(t, ['-p', port, '-V', v, '-t', 'nothing', '-i', `dying-${v}`, '--will-topic', `${base}/will`, '--will-payload', 'bye', '--will-qos', '1', '-W', '30'])
    await sleep(400)
    dying.kill() // SIGKILL: the socket closes without DISCONNECT
    t.equal((await w.done).out.trim(), `${base}/will bye`, `${v}: will published when the client dies`)
  }
})

t.test('password files from culex passwd and mosquitto_passwd', { skip }, async t => {
  const dir = tempDir(t)
  const file = join(dir, 'passwd')
  const made = await runCulex(['passwd', '-c', '-b', file, 'alice', 'wonder land'])
  t.equal(made.code, 0, `culex passwd exits 0 ${made.stderr}`)
  const noMosqPasswd = missing('mosquitto_passwd')
  if (noMosqPasswd === false) {
    await new Promise<void>((resolve, reject) => execFile('mosquitto_passwd', ['-b', file, 'bob', 'builder'], err => err === null ? resolve() : reject(err)))
  }
  const culex = await startCulex(t, ['--password-file', file])
  const port = String(culex.ports.mqtt)
  t.equal((await pub(['-p', port, '-u', 'alice', '-P', 'wonder land', '-t', 'x', '-m', '1'])).code, 0, 'culex passwd user accepted')
  const wrong = await pub(['-p', port, '-u', 'alice', '-P', 'nope', '-t', 'x', '-m', '1'])
  // mosquitto_pub exits with the CONNACK return code of a refusal
  t.equal(wrong.code, 4, 'wrong password refused: CONNACK 4, bad user name or password')
  t.match(wrong.stderr, /not authori[sz]ed|bad user name or password/i, 'refusal reported by mosquitto_pub')
  const anon = await pub(['-p', port, '-t', 'x', '-m', '1'])
  t.equal(anon.code, 5, 'anonymous refused when a password file is set: CONNACK 5, not authorized')
  const anon5 = await pub(['-p', port, '-V', 'mqttv5', '-t', 'x', '-m', '1'])
  t.match(anon5.stderr, /not authori[sz]ed/i, '5.0 anonymous refusal is 0x87 Not authorized')
  if (noMosqPasswd === false) {
    t.equal((await pub(['-p', port, '-u', 'bob', '-P', 'builder', '-t', 'x', '-m', '1'])).code, 0, 'mosquitto_passwd user accepted')
  } else {
    t.test('a mosquitto_passwd user accepted', { skip: noMosqPasswd }, () => {})
  }
})

t.test('ACL file: refusals in SUBACK, publishes dropped, reads filtered', { skip }, async t => {
  const dir = tempDir(t)
  const pw = join(dir, 'passwd')
  t.equal((await runCulex(['passwd', '-c', '-b', pw, 'alice', 'a'])).code, 0)
  t.equal((await runCulex(['passwd', '-b', pw, 'bob', 'b'])).code, 0)
  const acl = join(dir, 'acl')
  writeFileSync(acl, 'user alice\ntopic readwrite alice/#\ntopic read shared/#\ntopic deny shared/secret\n\nuser bob\ntopic readwrite shared/#\ntopic write alice/inbox\n')
  const culex = await startCulex(t, ['--password-file', pw, '--acl-file', acl])
  const url = `mqtt://127.0.0.1:${culex.ports.mqtt}`
  const alice5 = await mqtt.connectAsync(url, { username: 'alice', password: 'a', protocolVersion: 5, reconnectPeriod: 0 })
  t.teardown(() => { alice5.end(true) })
  const alice4 = await mqtt.connectAsync(url, { username: 'alice', password: 'a', protocolVersion: 4, reconnectPeriod: 0, clientId: 'alice4' })
  t.teardown(() => { alice4.end(true) })
  const bob = await mqtt.connectAsync(url, { username: 'bob', password: 'b', protocolVersion: 5, reconnectPeriod: 0 })
  t.teardown(() => { bob.end(true) })

  t.same(await subackCodes(alice5, ['alice/#', 'bob/#', 'shared/#']), [1, 0x87, 1], '5.0: denied filter gets SUBACK 0x87')
  t.same(await subackCodes(alice4, ['bob/#', 'alice/x']), [0x80, 1], '3.1.1: denied filter gets SUBACK 0x80')

  const got: string[] = []
  alice5.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`))
  await bob.publishAsync('shared/news', 'n1', { qos: 1 })
  await bob.publishAsync('shared/secret', 's1', { qos: 1 })
  await bob.publishAsync('alice/inbox', 'hi', { qos: 1 })
  await t.rejects(bob.publishAsync('alice/private', 'x', { qos: 1 }), 'publish without write access refused (PUBACK 0x87)')
  await alice5.publishAsync('alice/done', 'end', { qos: 1 })
  await sleep(300)
  t.same(got.sort(), ['alice/done end', 'alice/inbox hi', 'shared/news n1'], 'denied topic not delivered; refused publish not routed')
})
