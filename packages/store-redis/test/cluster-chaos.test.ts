/**
 * Two real `culex --cluster` processes on one redis-server, MQTT.js clients: QoS 1 messages
 * published on node A to a subscriber on node B while the bus connections (the blocking
 * XREAD readers and the pub/sub connections) are killed with CLIENT KILL, again and again:
 * every acknowledged message arrives, once, in the order published.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Redis } from 'ioredis'
import { CULEX_CLI } from '@culex/store-suite/e2e'
import { existsSync } from 'node:fs'
import { startRedis } from './redis-server.ts'

/** Start culex with `args`; its MQTT port once ready. Killed at teardown. */
async function culex (t: Test, args: string[], cwd: string): Promise<number> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CULEX_') && !k.startsWith('NODE_V8_COVERAGE') && k !== 'NODE_OPTIONS') env[k] = v
  const proc = spawn(process.execPath, [CULEX_CLI, '--port', '0', '--sys-interval', '0', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => { proc.once('exit', () => { resolve() }) })
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    await exited
  })
  let err = ''
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  return await new Promise<number>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => { reject(new Error(`culex not ready in 15 s; stderr: ${err}`)) }, 15_000)
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          const rec = JSON.parse(line) as { ready?: boolean, addresses?: Array<{ protocol: string, host: string, port: number }> }
          const a = rec.ready === true ? rec.addresses?.find((x) => x.protocol === 'mqtt' && x.host === '127.0.0.1') : undefined
          if (a !== undefined) {
            clearTimeout(timer)
            resolve(a.port)
          }
        } catch {}
      }
    })
    exited.then(() => { clearTimeout(timer); reject(new Error(`culex exited before ready; stderr: ${err}`)) }, () => {})
  })
}

async function client (t: Test, port: number, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => { c.end(true) })
  return c
}

const skip = existsSync(CULEX_CLI) ? false : `the culex app is not built (${CULEX_CLI} missing; npm run build -w culex)`

t.test('QoS 1 across two culex nodes while the bus connections are killed: none lost, none twice, in order', { skip, timeout: 120_000 }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  const dir = mkdtempSync(join(tmpdir(), 'culex-chaos-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const admin = new Redis(server.url)
  t.teardown(() => { admin.disconnect() })
  const a = await culex(t, ['--store', server.url, '--cluster', '--node-id', 'node-a'], dir)
  const b = await culex(t, ['--store', server.url, '--cluster', '--node-id', 'node-b'], dir)

  const sub = await client(t, b)
  const got: number[] = []
  sub.on('message', (topic, payload) => { if (topic === 'chaos/x') got.push(Number(payload.toString())) })
  await sub.subscribeAsync('chaos/#', { qos: 1 })
  const pub = await client(t, a)
  // wait until node A routes chaos/# to node B
  for (const end = Date.now() + 5000; Date.now() < end;) {
    const seen = await new Promise<boolean>((resolve) => {
      const on = (topic: string): void => { if (topic === 'chaos/probe') { sub.off('message', on); resolve(true) } }
      sub.on('message', on)
      pub.publish('chaos/probe', 'p', { qos: 0 })
      setTimeout(() => { sub.off('message', on); resolve(false) }, 100)
    })
    if (seen) break
  }

  // the blocking readers of both nodes and every pub/sub connection, killed while a window
  // of publishes is in flight, every 8 windows: spread over the run whatever the machine's speed
  let kills = 0
  const killRound = async (): Promise<void> => {
    const list = await admin.client('LIST') as string
    for (const line of list.split('\n')) {
      if (line.includes(' cmd=xread')) await admin.client('KILL', 'ID', /id=(\d+)/.exec(line)![1]!).catch(() => {})
    }
    await admin.client('KILL', 'TYPE', 'pubsub').catch(() => {})
    kills++
  }

  const total = 2000
  const acked: number[] = []
  for (let i = 0; i < total; i += 32) {
    const window: Array<Promise<unknown>> = []
    for (let j = i; j < Math.min(total, i + 32); j++) window.push(pub.publishAsync('chaos/x', String(j), { qos: 1 }).then(() => { acked.push(j) }))
    if (i > 0 && i % 256 === 0) await killRound()
    await Promise.all(window)
  }
  t.equal(kills, 7, `${kills} rounds of CLIENT KILL during the run`)
  for (const end = Date.now() + 15_000; got.length < acked.length && Date.now() < end;) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const seen = new Set(got)
  t.equal(acked.length, total, 'every publish acknowledged')
  t.equal(acked.filter((x) => !seen.has(x)).length, 0, `0 of ${acked.length} acknowledged messages lost`)
  t.equal(got.length, seen.size, '0 duplicates')
  t.same(got, [...got].sort((x, y) => x - y), 'in the order published')
})
