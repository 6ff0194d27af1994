/**
 * Persistence benchmark through whole brokers, over TCP, with MQTT.js clients: Culex with a
 * given Store against aedes 1.2.0 with a given aedes persistence, in the same process and run.
 *
 * 1. offline queue: a persistent QoS 1 subscriber is offline; one publisher sends N QoS 1
 *    messages with up to 100 in flight; time until every PUBACK (each message is stored for
 *    the subscriber before its PUBACK);
 * 2. drain: the subscriber reconnects; time until it received all N;
 * 3. retained: R retained topics are stored (not timed); a new client subscribes to a
 *    wildcard matching all of them (QoS 1, so nothing may be dropped); time until all R arrived.
 * Before timing, each broker's output is checked: the same N payloads in order, the same R
 * retained topics.
 */
import net from 'node:net'
import mqtt from 'mqtt'
import type { Store } from '@culex/broker'

/** One contestant: a started broker on a TCP port, and how to stop it. */
export interface Contestant { name: string, start: () => Promise<{ port: number, stop: () => Promise<void>, seedRetained: (n: number) => Promise<void> }> }

/** Culex with `makeStore(maxQueuedMessages)`; queues are unbounded for the run (aedes has no bound). */
export function culexContestant (name: string, makeStore: (maxQueuedMessages: number) => Promise<Store>): Contestant {
  return {
    name,
    start: async () => {
      const { Broker } = await import('@culex/broker')
      const store = await makeStore(10_000_000)
      const broker = new Broker({ store, sysInterval: 0, limits: { maxQueuedMessages: 10_000_000 } })
      await broker.ready()
      const server = net.createServer((s) => { broker.handle(s) })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return {
        port: (server.address() as net.AddressInfo).port,
        seedRetained: async (n) => {
          const payload = Buffer.from('retained')
          for (let i = 0; i < n; i += 1000) {
            await Promise.all(Array.from({ length: Math.min(1000, n - i) }, async (_, j) => { await broker.publish({ topic: `r/${(i + j) % 100}/${i + j}`, payload, qos: 1, retain: true }) }))
          }
        },
        stop: async () => {
          server.close()
          await broker.close()
          await store.close()
        }
      }
    }
  }
}

/** aedes 1.2.0 with `makePersistence()` (an aedes persistence instance). */
export function aedesContestant (name: string, makePersistence: () => Promise<unknown>): Contestant {
  return {
    name,
    start: async () => {
      const { Aedes } = await import('aedes') as unknown as { Aedes: { createBroker: (o: unknown) => Promise<AedesLike> } }
      const persistence = await makePersistence()
      const broker = await Aedes.createBroker({ persistence })
      const server = net.createServer(broker.handle)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return {
        port: (server.address() as net.AddressInfo).port,
        seedRetained: async (n) => {
          const payload = Buffer.from('retained')
          for (let i = 0; i < n; i += 1000) {
            await Promise.all(Array.from({ length: Math.min(1000, n - i) }, async (_, j) => await new Promise<void>((resolve) => {
              broker.publish({ cmd: 'publish', topic: `r/${(i + j) % 100}/${i + j}`, payload, qos: 1, retain: true, dup: false }, () => { resolve() })
            })))
          }
        },
        stop: async () => {
          server.close()
          await new Promise<void>((resolve) => { broker.close(() => { resolve() }) })
        }
      }
    }
  }
}

interface AedesLike {
  handle: (s: net.Socket) => void
  publish: (p: Record<string, unknown>, cb: () => void) => void
  close: (cb: () => void) => void
}

/** Rates of one contestant, messages per second. */
export interface BenchResult { name: string, queue: number, drain: number, retained: number }

async function offlineQueue (port: number, n: number, id: string): Promise<{ queue: number, drain: number, payloads: string[] }> {
  const url = `mqtt://127.0.0.1:${port}`
  const sub = await mqtt.connectAsync(url, { clientId: id, clean: false, reconnectPeriod: 0 })
  await sub.subscribeAsync('bench/#', { qos: 1 })
  await sub.endAsync()
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  const t0 = process.hrtime.bigint()
  let next = 0
  await Promise.all(Array.from({ length: 100 }, async () => {
    while (next < n) {
      const i = next++
      await pub.publishAsync('bench/q', String(i), { qos: 1 })
    }
  }))
  const t1 = process.hrtime.bigint()
  await pub.endAsync()
  const payloads: string[] = []
  const back = mqtt.connect(url, { clientId: id, clean: false, reconnectPeriod: 0 })
  const t2 = process.hrtime.bigint()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`drain: ${payloads.length} of ${n} after 120 s`)) }, 120_000)
    back.on('message', (_t, p) => {
      payloads.push(p.toString())
      if (payloads.length >= n) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  const t3 = process.hrtime.bigint()
  await back.endAsync()
  return { queue: n / (Number(t1 - t0) / 1e9), drain: n / (Number(t3 - t2) / 1e9), payloads }
}

async function retainedFlood (port: number, r: number): Promise<{ rate: number, topics: number }> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 })
  let got = 0
  const t0 = process.hrtime.bigint()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`retained: ${got} of ${r} after 300 s`)) }, 300_000)
    c.on('message', () => {
      if (++got >= r) {
        clearTimeout(timer)
        resolve()
      }
    })
    c.subscribe('r/#', { qos: 1 })
  })
  const t1 = process.hrtime.bigint()
  await c.endAsync()
  return { rate: r / (Number(t1 - t0) / 1e9), topics: got }
}

/**
 * Run every contestant through the three phases; throws if their outputs differ.
 * @param n - messages of the offline-queue phase
 * @param r - retained topics of the retained phase
 */
export async function runPersistenceBench (contestants: Contestant[], n: number, r: number): Promise<BenchResult[]> {
  const results: BenchResult[] = []
  let reference: string[] | null = null
  for (const c of contestants) {
    const b = await c.start()
    try {
      // warm-up and output check on a small run
      process.stderr.write(`${c.name}: warm-up\n`)
      const warm = await offlineQueue(b.port, 200, 'warm')
      const expected = Array.from({ length: 200 }, (_, i) => String(i)).sort()
      if (JSON.stringify([...warm.payloads].sort()) !== JSON.stringify(expected)) throw new Error(`${c.name}: warm-up delivered a different set of messages`)
      const q = await offlineQueue(b.port, n, 'bench-sub')
      const sorted = [...q.payloads].sort()
      if (reference === null) reference = sorted
      else if (JSON.stringify(reference) !== JSON.stringify(sorted)) throw new Error(`${c.name}: delivered different messages than ${contestants[0]!.name}`)
      process.stderr.write(`${c.name}: queue ${Math.round(q.queue)}/s, drain ${Math.round(q.drain)}/s; seeding ${r} retained\n`)
      await b.seedRetained(r)
      const ret = await retainedFlood(b.port, r)
      process.stderr.write(`${c.name}: retained ${Math.round(ret.rate)}/s\n`)
      results.push({ name: c.name, queue: q.queue, drain: q.drain, retained: ret.rate })
    } finally {
      await b.stop()
    }
  }
  return results
}

/** A markdown table with ratios against the last contestant (the peer). */
export function benchTable (results: BenchResult[], n: number, r: number): string {
  const peer = results[results.length - 1]!
  const f = (x: number): string => Math.round(x).toLocaleString('en-US')
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(1)}×`
  const rows = [
    `| broker + store | offline queue, QoS 1 (msg/s, N=${n}) | drain on reconnect (msg/s) | retained on \`r/#\` (msg/s, ${r} topics) |`,
    '|---|---|---|---|'
  ]
  for (const x of results) {
    const rel = x === peer ? '' : ` (${ratio(x.queue, peer.queue)})`
    rows.push(`| ${x.name} | ${f(x.queue)}${rel} | ${f(x.drain)}${x === peer ? '' : ` (${ratio(x.drain, peer.drain)})`} | ${f(x.retained)}${x === peer ? '' : ` (${ratio(x.retained, peer.retained)})`} |`)
  }
  return rows.join('\n')
}

export { runQos2Bench, qos2BenchTable, type BrokerClass, type Qos2BenchSide, type Qos2BenchResult } from './qos2-bench.ts'
