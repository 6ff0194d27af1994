/**
 * End-to-end cluster behaviour through two real `culex` processes started with `--cluster`
 * on one shared store, and MQTT.js clients: QoS 1 messages published on one node reach a
 * subscriber on the other, all of them and in order; a client id connecting on the second
 * node takes the session over from the first (DISCONNECT 0x8E). Sessions do not move between
 * nodes yet (see apps/broker/README.md, "Cluster"), so nothing here asks for that.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { culexSkip, startCulex } from './culex.ts'

/** Options of {@link clusterSuite}. */
export interface ClusterOptions {
  /** e.g. 'RedisStore' */
  name: string
  /** culex arguments selecting the shared store (and so the bus), given a fresh temp dir. */
  storeArgs: (dir: string, t: Test) => Promise<string[]> | string[]
}

const within = async <T>(p: Promise<T>, ms: number, late: T): Promise<T> => await Promise.race([p, new Promise<T>((resolve) => setTimeout(() => { resolve(late) }, ms))])

/** Connect and end the client at teardown. */
async function client (t: Test, port: number, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => { c.end(true) })
  return c
}

/**
 * Publish `probe` messages on `pub` until `sub` receives one (a subscription made on one node
 * reaches the others asynchronously), at most 5 s. True once one arrived.
 */
async function untilRouted (pub: MqttClient, sub: MqttClient, topic: string): Promise<boolean> {
  const state = { seen: false }
  const on = (t: string): void => { if (t === topic) state.seen = true }
  sub.on('message', on)
  try {
    for (const deadline = Date.now() + 5000; !state.seen && Date.now() < deadline;) {
      await pub.publishAsync(topic, 'probe', { qos: 0 })
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return state.seen
  } finally {
    sub.off('message', on)
  }
}

/** Add the two-node cluster tests to `t` (skipped with the reason printed when culex is not built). */
export function clusterSuite (t: Test, opts: ClusterOptions): void {
  const skip = culexSkip(t, 'the cluster tests')
  if (skip === null) return
  void t.test(`${opts.name}: two culex nodes with --cluster act as one broker`, { skip, timeout: 60_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-cluster-'))
    t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
    const store = await opts.storeArgs(dir, t)
    const a = await startCulex(t, [...store, '--cluster', '--node-id', 'node-a'], dir)
    const b = await startCulex(t, [...store, '--cluster', '--node-id', 'node-b'], dir)

    void t.test('a publish on one node reaches a subscriber on the other', async (t) => {
      const onA = await client(t, a.port, { protocolVersion: 5 })
      await onA.subscribeAsync('cl/#', { qos: 1 })
      const pubB = await client(t, b.port)
      t.ok(await untilRouted(pubB, onA, 'cl/probe'), 'routed within 5 s')
      const got: string[] = []
      const all = new Promise<void>((resolve) => {
        onA.on('message', (topic, payload) => {
          if (topic !== 'cl/x') return
          got.push(payload.toString())
          if (got.length === 50) resolve()
        })
      })
      for (let i = 0; i < 50; i++) await pubB.publishAsync('cl/x', String(i), { qos: 1 })
      await within(all, 5000, undefined)
      t.same(got, Array.from({ length: 50 }, (_, i) => String(i)), '50 QoS 1 messages from B arrive on A, in order')
    })

    void t.test('a client id connecting on the other node takes the session over', async (t) => {
      const first = await client(t, a.port, { clientId: 'same-id', protocolVersion: 5 })
      const kicked = new Promise<number | undefined>((resolve) => { first.once('disconnect', (p) => { resolve(p.reasonCode) }) })
      await client(t, b.port, { clientId: 'same-id', protocolVersion: 5 })
      t.equal(await within(kicked, 5000, -1), 0x8e, 'the connection on A gets DISCONNECT 0x8E')
    })
  })
}
