/**
 * Two real `culex --cluster` processes on one redis-server, MQTT.js clients: QoS 1 messages
 * published on node A to a subscriber on node B while the bus connections (the blocking
 * XREAD readers and the pub/sub connections) are killed with CLIENT KILL, again and again:
 * every acknowledged message arrives, once, in the order published.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Redis } from 'ioredis'
import { culexMissing, startCulex, startRedis } from '@culex/test-kit'

/** Start culex with `args`; its MQTT port once ready. Killed at teardown. */
async function culex (t: Test, args: string[], cwd: string): Promise<number> {
  return (await startCulex(t, ['--sys-interval', '0', ...args], { cwd })).port
}

async function client (t: Test, port: number, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => { c.end(true) })
  return c
}

const skip = culexMissing()

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
