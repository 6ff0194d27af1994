/**
 * A/B cost of persistent QoS 1/2 delivery through whole brokers over TCP, with MQTT.js
 * clients: two builds of @culex/broker (e.g. main and a branch) on the same kind of store,
 * alternated round by round in one process.
 *
 * 1. drain QoS 1 and QoS 2: a persistent subscriber is offline while N messages are queued
 *    for it (not timed); time from its reconnect until it received all N (for QoS 2 a
 *    message counts when MQTT.js emits it, at PUBREL);
 * 2. fan-in QoS 2: a connected persistent subscriber on `f/#`; 4 publishers send N/4 QoS 2
 *    messages each, 32 in flight per publisher; time until the subscriber received all N.
 * Every run checks that the subscriber got each payload exactly once.
 */
import net from 'node:net'
import mqtt from 'mqtt'
import type { Store } from '@culex/broker'

/** A Broker class of some build of @culex/broker. */
export interface BrokerClass {
  new (opts: { store: Store, sysInterval: number, limits: { maxQueuedMessages: number } }): {
    handle: (s: net.Socket) => void
    ready: () => Promise<void>
    close: () => Promise<void>
  }
}

/** One build under test, and how to make a fresh store for a run. */
export interface Qos2BenchSide { name: string, Broker: BrokerClass, makeStore: (run: string) => Promise<Store> }

/** Rates (messages per second) of one side, one value per round. */
export interface Qos2BenchResult { name: string, drain1: number[], drain2: number[], fanin2: number[] }

async function withBroker<T> (side: Qos2BenchSide, run: string, fn: (url: string) => Promise<T>): Promise<T> {
  const store = await side.makeStore(run)
  const broker = new side.Broker({ store, sysInterval: 0, limits: { maxQueuedMessages: 10_000_000 } })
  await broker.ready()
  const server = net.createServer((s) => { broker.handle(s) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    return await fn(`mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`)
  } finally {
    server.close()
    await broker.close()
    await store.close()
  }
}

/** Resolves with the seconds until `n` distinct payloads arrived; throws on a duplicate. */
function receiveAll (c: mqtt.MqttClient, n: number, what: string): Promise<number> {
  const t0 = process.hrtime.bigint()
  const seen = new Set<string>()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${what}: ${seen.size} of ${n} after 120 s`)) }, 120_000)
    c.on('message', (_t, p) => {
      const body = p.toString()
      if (seen.has(body)) {
        clearTimeout(timer)
        reject(new Error(`${what}: ${body} twice`))
        return
      }
      seen.add(body)
      if (seen.size === n) {
        clearTimeout(timer)
        resolve(Number(process.hrtime.bigint() - t0) / 1e9)
      }
    })
  })
}

async function publishAll (url: string, topic: string, qos: 1 | 2, from: number, count: number, window: number): Promise<void> {
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  let next = from
  const end = from + count
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < end) await pub.publishAsync(topic, String(next++), { qos })
  }))
  await pub.endAsync()
}

async function drain (url: string, qos: 1 | 2, n: number): Promise<number> {
  const opts = { clientId: `drain-${qos}`, clean: false, reconnectPeriod: 0 }
  const sub = await mqtt.connectAsync(url, opts)
  await sub.subscribeAsync('d/#', { qos })
  await sub.endAsync()
  await publishAll(url, 'd/x', qos, 0, n, 100)
  const back = mqtt.connect(url, opts)
  try {
    return n / await receiveAll(back, n, `drain QoS ${qos}`)
  } finally {
    await back.endAsync()
  }
}

async function fanIn (url: string, n: number): Promise<number> {
  const sub = await mqtt.connectAsync(url, { clientId: 'fan', clean: false, reconnectPeriod: 0 })
  await sub.subscribeAsync('f/#', { qos: 2 })
  const got = receiveAll(sub, n, 'fan-in QoS 2')
  const per = n / 4
  await Promise.all([0, 1, 2, 3].map(async (p) => { await publishAll(url, `f/${p}`, 2, p * per, per, 32) }))
  try {
    return n / await got
  } finally {
    await sub.endAsync()
  }
}

/**
 * Run `rounds` rounds; in each, every side runs each scenario on a fresh broker and store
 * (sides alternate, so drift of the machine hits both).
 */
export async function runQos2Bench (sides: Qos2BenchSide[], n: number, rounds: number): Promise<Qos2BenchResult[]> {
  const results = sides.map((s) => ({ name: s.name, drain1: [] as number[], drain2: [] as number[], fanin2: [] as number[] }))
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sides.length; i++) {
      const side = sides[(i + r) % sides.length]!
      const res = results[(i + r) % sides.length]!
      res.drain1.push(await withBroker(side, `${r}-d1`, async (url) => await drain(url, 1, n)))
      res.drain2.push(await withBroker(side, `${r}-d2`, async (url) => await drain(url, 2, n)))
      res.fanin2.push(await withBroker(side, `${r}-f2`, async (url) => await fanIn(url, n)))
      process.stderr.write(`round ${r} ${side.name}: drain QoS 1 ${Math.round(res.drain1.at(-1)!)}/s, drain QoS 2 ${Math.round(res.drain2.at(-1)!)}/s, fan-in QoS 2 ${Math.round(res.fanin2.at(-1)!)}/s\n`)
    }
  }
  return results
}

/** A markdown table of medians, with each side's ratio to the first. */
export function qos2BenchTable (results: Qos2BenchResult[], n: number): string {
  const med = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]! }
  const base = results[0]!
  const f = (x: number, b: number, first: boolean): string => `${Math.round(x).toLocaleString('en-US')}${first ? '' : ` (${(x / b).toFixed(2)}×)`}`
  const rows = [`| build | drain QoS 1 (msg/s, N=${n}) | drain QoS 2 (msg/s) | fan-in QoS 2, 4 publishers (msg/s) |`, '|---|---|---|---|']
  for (const x of results) {
    const first = x === base
    rows.push(`| ${x.name} | ${f(med(x.drain1), med(base.drain1), first)} | ${f(med(x.drain2), med(base.drain2), first)} | ${f(med(x.fanin2), med(base.fanin2), first)} |`)
  }
  return rows.join('\n')
}
