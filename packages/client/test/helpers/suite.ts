/**
 * The shared client suite: one function, run against each broker (Mosquitto, culex) over
 * each transport (TCP, TLS, WebSocket) and protocol version (3.1.1, 5.0).
 */
import type { Test } from 'tap'
import { Client, type ClientOptions, type Message, type MessageStream } from '../../src/index.ts'

export type TransportName = 'tcp' | 'tls' | 'ws' | 'wss'

/** What the suite needs from a broker fixture. */
export interface BrokerUnderTest {
  /** URL of the broker (through a cuttable proxy) for the transport. */
  url: string
  /** TLS options for mqtts:// / wss:// (the test CA). */
  tls?: ClientOptions['tls']
  /** Cuts every client connection mid-flow. */
  cut: () => void
  /** Stops and starts the broker (state it persists survives); omitted when not supported. */
  restart?: () => Promise<void>
}

let seq = 0
const runId = Math.random().toString(36).slice(2, 8)

/** Collects `n` messages from `stream` or fails after `ms`. */
export async function collect (stream: MessageStream, n: number, ms = 5000): Promise<Message[]> {
  const out: Message[] = []
  if (n === 0) return out
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`expected ${n} messages on ${stream.filters.join(',')} within ${ms} ms, got ${out.length}`)), ms)
  })
  try {
    await Promise.race([(async () => {
      for await (const m of stream) {
        out.push(m)
        if (out.length === n) break
      }
    })(), timeout])
  } finally {
    clearTimeout(timer)
  }
  return out
}

/** Waits until `cond()` or fails after `ms`. */
export async function until (cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export function clientSuite (t: Test, name: string, transport: TransportName, version: 4 | 5, setup: (t: Test) => Promise<BrokerUnderTest>): void {
  t.test(`${name} over ${transport}, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, async (t) => {
    const b = await setup(t)
    const prefix = (): string => `culex-test/${runId}/${transport}${version}/${++seq}`
    const make = (opts: Partial<ClientOptions> = {}): Client => {
      const c = new Client({
        url: b.url,
        protocolVersion: version,
        connectTimeout: 5000,
        reconnect: { initialDelay: 20, maxDelay: 300, factor: 2, jitter: 0.5 },
        ...(b.tls === undefined ? {} : { tls: b.tls }),
        ...opts
      })
      t.teardown(() => c.end({ force: true }))
      return c
    }
    const persistent = (clientId: string): Partial<ClientOptions> => version === 5
      ? { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
      : { clientId, clean: false }

    t.test('QoS 0, 1 and 2 round trip, as publisher and as subscriber', async (t) => {
      const p = prefix()
      const sub = make()
      const pub = make()
      await sub.connect()
      await pub.connect()
      for (const qos of [0, 1, 2] as const) {
        const s = await sub.subscribe(`${p}/q${qos}`, { qos })
        t.same(s.granted, [{ topic: `${p}/q${qos}`, qos }], `granted QoS ${qos}`)
        const results = await Promise.all([1, 2, 3, 4, 5].map((i) => pub.publish(`${p}/q${qos}`, `m${i}`, { qos })))
        if (qos === 0) t.same(results, [undefined, undefined, undefined, undefined, undefined], 'QoS 0 resolves with nothing')
        else t.ok(results.every((r) => r !== undefined && r.reasonCode === 0), `QoS ${qos} acknowledged`)
        const got = await collect(s, 5)
        t.same(got.map((m) => m.payload.toString()), ['m1', 'm2', 'm3', 'm4', 'm5'], `QoS ${qos} in order`)
        t.ok(got.every((m) => m.qos === qos), `delivered at QoS ${qos}`)
      }
      t.equal(pub.inflightCount, 0, 'nothing left inflight')
    })

    t.test('retained messages reach later subscribers', async (t) => {
      const p = prefix()
      const pub = make()
      await pub.connect()
      await pub.publish(`${p}/r`, 'kept', { qos: 1, retain: true })
      const late = make()
      await late.connect()
      const s = await late.subscribe(`${p}/+`, { qos: 1 })
      const [m] = await collect(s, 1)
      t.equal(m!.topic, `${p}/r`)
      t.equal(m!.payload.toString(), 'kept')
      t.equal(m!.retain, true, 'retain flag set on delivery of a retained message')
      await pub.publish(`${p}/r`, '', { qos: 1, retain: true })
    })

    t.test('the will is published when the client goes away', async (t) => {
      const p = prefix()
      const watcher = make()
      await watcher.connect()
      const s = await watcher.subscribe(`${p}/will`, { qos: 1 })
      const w = make({ will: { topic: `${p}/will`, payload: 'gone', qos: 1 } })
      await w.connect()
      if (version === 5) await w.end({ reasonCode: 0x04 })
      else await w.end({ force: true })
      const [m] = await collect(s, 1)
      t.equal(m!.payload.toString(), 'gone')
    })

    t.test('a persistent session resumes with its queued messages', async (t) => {
      const p = prefix()
      const id = `culex-${runId}-${transport}${version}-resume-${seq}`
      const first = make(persistent(id))
      await first.connect()
      await first.subscribe(`${p}/s`, { qos: 1 })
      await first.end()
      const pub = make()
      await pub.connect()
      for (let i = 0; i < 3; i++) await pub.publish(`${p}/s`, `q${i}`, { qos: 1 })
      const again = make(persistent(id))
      const stream = again.messages(`${p}/s`)
      const { sessionPresent } = await again.connect()
      t.equal(sessionPresent, true, 'CONNACK says the session is present')
      const got = await collect(stream, 3)
      t.same(got.map((m) => m.payload.toString()), ['q0', 'q1', 'q2'], 'queued messages delivered')
    })

    t.test('connections cut mid-flow: nothing acknowledged is lost, QoS 2 is not duplicated', async (t) => {
      const p = prefix()
      const sub = make(persistent(`culex-${runId}-${transport}${version}-cutsub-${seq}`))
      const pub = make(persistent(`culex-${runId}-${transport}${version}-cutpub-${seq}`))
      await sub.connect()
      await pub.connect()
      const seen1 = new Map<string, number>()
      const seen2 = new Map<string, number>()
      sub.on('message', (m) => {
        const map = m.topic.endsWith('/c2') ? seen2 : seen1
        const k = m.payload.toString()
        map.set(k, (map.get(k) ?? 0) + 1)
      })
      await sub.subscribe({ [`${p}/c1`]: { qos: 1 }, [`${p}/c2`]: { qos: 2 } })
      let reconnects = 0
      pub.on('reconnect', () => reconnects++)
      const N = 200
      let acked = 0
      const all: Array<Promise<unknown>> = []
      for (let i = 0; i < N; i++) {
        const qos = i % 2 === 0 ? 1 : 2
        all.push(pub.publish(`${p}/c${qos}`, String(i), { qos }).then((r) => { acked++; return r }))
        if (i === 60) {
          await until(() => acked >= 20, 5000, '20 acknowledgements')
          b.cut()
        }
      }
      await until(() => acked >= 150, 8000, '150 acknowledgements').then(() => b.cut()).catch(() => {})
      const results = await Promise.allSettled(all)
      t.equal(results.filter((r) => r.status === 'rejected').length, 0, 'every publish completes across the cuts')
      t.ok(reconnects >= 1, `the publisher reconnected (${reconnects} times)`)
      await until(() => seen1.size + seen2.size === N, 10000, `all ${N} messages at the subscriber`).catch((err: Error) => {
        const missing = []
        for (let i = 0; i < N; i++) if (!(i % 2 === 0 ? seen1 : seen2).has(String(i))) missing.push(i)
        t.comment(`sub connected=${sub.connected} inflight=${sub.inflightCount} missing=${missing.join(',')}`)
        throw err
      })
      t.equal(seen1.size, N / 2, 'every QoS 1 message arrived at least once')
      t.equal(seen2.size, N / 2, 'every QoS 2 message arrived')
      t.same([...seen2.values()].filter((n) => n !== 1), [], 'no QoS 2 message arrived twice')
    })

    if (b.restart !== undefined) {
      const restart = b.restart
      t.test('broker restart: queued publishes complete and persistent subscribers get everything', async (t) => {
        const p = prefix()
        const sub = make(persistent(`culex-${runId}-${transport}${version}-rsub-${seq}`))
        const pub = make(persistent(`culex-${runId}-${transport}${version}-rpub-${seq}`))
        await sub.connect()
        await pub.connect()
        const seen = new Map<string, number>()
        sub.on('message', (m) => {
          const k = m.payload.toString()
          seen.set(k, (seen.get(k) ?? 0) + 1)
        })
        await sub.subscribe({ [`${p}/x1`]: { qos: 1 }, [`${p}/x2`]: { qos: 2 } })
        const N = 60
        const all: Array<Promise<unknown>> = []
        for (let i = 0; i < N / 2; i++) all.push(pub.publish(`${p}/x${1 + (i % 2)}`, String(i), { qos: (1 + (i % 2)) as 1 | 2 }))
        const restarting = restart()
        for (let i = N / 2; i < N; i++) all.push(pub.publish(`${p}/x${1 + (i % 2)}`, String(i), { qos: (1 + (i % 2)) as 1 | 2 }))
        await restarting
        const results = await Promise.allSettled(all)
        t.equal(results.filter((r) => r.status === 'rejected').length, 0, 'every publish completes after the restart')
        await until(() => seen.size === N, 10000, `all ${N} messages at the subscriber`)
        t.equal(seen.size, N, 'nothing acknowledged was lost')
        t.same([...seen.entries()].filter(([k, n]) => Number(k) % 2 === 1 && n !== 1), [], 'QoS 2 delivered once')
      })
    }
  })
}
