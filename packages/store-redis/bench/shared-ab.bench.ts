/**
 * The publish path of a cluster node with shared subscriptions, A/B between two builds of
 * @culex/broker + RedisBus in one run, on a redis-server started here.
 *
 * The measured node is a Broker with a RedisBus; the other nodes are bare RedisBus instances
 * that announce a route or a group and read their inbox (so the receiving side costs the
 * measured process little). `broker.publish` QoS 1, 500 at a time (one bus batch), N messages.
 * The figure is CPU time of this process per message (user + system, `process.cpuUsage`) from
 * the first publish until the remote nodes decoded every message: less disturbed than wall
 * time by other work on a shared machine (wall-time rates are printed too). Entries:
 *  - plain:  one remote node routes `p/#` (no group anywhere: the cost of the pick check);
 *  - shared: one remote node has a member of `$share/g/s/#` (A, before cluster-wide groups:
 *            a route on `s/#`; B: a group, picked per message);
 *  - shared×2: two remote nodes have members (A sends every message to both, where each
 *            member gets a copy; B sends each to one of them, alternating).
 * Also `pickShares` alone, per call, with 1 and 100 groups matching nothing or one.
 *
 * Run: CULEX_AB_A=/path/to/other/build npm run bench:shared -w @culex/store-redis
 * (the directory holds packages/broker/dist/index.js and packages/store-redis/dist/index.js;
 * without it only this build runs; env N, ROUNDS change the run, ONLY=plain,shared,shared2
 * picks entries)
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Broker } from '@culex/broker'
import { RedisBus } from '../src/index.ts'
import { startRedis } from '../test/redis-server.ts'

type BrokerCtor = new (opts: Record<string, unknown>) => { publish (m: { topic: string, payload: Buffer, qos: 0 | 1 }): Promise<void>, close (): Promise<void> }
type BusLike = { open (): Promise<void>, close (): Promise<void>, addRoute (f: string): void, setShare?: (s: string, o: number, t: number) => void, pickShares?: (topic: string) => unknown, onMessage (h: (m: unknown) => void): void, stats: { delivered: number } }
type BusCtor = new (opts: Record<string, unknown>) => BusLike
interface Side { name: string, Broker: BrokerCtor, RedisBus: BusCtor }

const n = Number(process.env.N ?? 40_000)
const rounds = Number(process.env.ROUNDS ?? 3)
const sides: Side[] = []
const a = process.env.CULEX_AB_A
if (a !== undefined && a !== '') {
  const b = await import(pathToFileURL(resolve(a, 'packages/broker/dist/index.js')).href) as { Broker: BrokerCtor }
  const r = await import(pathToFileURL(resolve(a, 'packages/store-redis/dist/index.js')).href) as { RedisBus: BusCtor }
  sides.push({ name: 'A', Broker: b.Broker, RedisBus: r.RedisBus })
}
sides.push({ name: 'B (this build)', Broker: Broker as unknown as BrokerCtor, RedisBus: RedisBus as unknown as BusCtor })

const server = await startRedis()
let runs = 0

/** What the remote nodes received, per entry and side (checked: every message crossed). */
const received = new Map<string, number[]>()

/** Wall-time rates, per entry and side. */
const rates = new Map<string, number[]>()

/** CPU µs per message for one entry (the wall-time rate goes to `rates`). */
async function entry (side: Side, kind: 'plain' | 'shared' | 'shared2'): Promise<number> {
  const prefix = `ab${runs++}:`
  const remotes: BusLike[] = []
  for (let i = 0; i < (kind === 'shared2' ? 2 : 1); i++) {
    const r = new side.RedisBus({ url: server.url, prefix, nodeId: `remote${i}`, heartbeatMs: 200 })
    r.onMessage(() => {})
    if (kind === 'plain') r.addRoute('p/#')
    else if (r.setShare !== undefined) r.setShare('$share/g/s/#', 1, 1)
    else r.addRoute('s/#') // A: a group counts by its filter
    await r.open()
    remotes.push(r)
  }
  const bus = new side.RedisBus({ url: server.url, prefix, nodeId: 'me', heartbeatMs: 200 })
  await bus.open()
  const broker = new side.Broker({ bus, sysInterval: 0 })
  const topic = kind === 'plain' ? 'p/1' : 's/1'
  const payload = Buffer.alloc(64, 1)
  try {
    for (let i = 0; i < 2000; i += 500) await Promise.all(Array.from({ length: 500 }, () => broker.publish({ topic, payload, qos: 1 })))
    const cpu = process.cpuUsage()
    const start = process.hrtime.bigint()
    const batch: Array<Promise<void>> = new Array(500)
    for (let i = 0; i < n; i += 500) {
      for (let k = 0; k < 500; k++) batch[k] = broker.publish({ topic, payload, qos: 1 })
      await Promise.all(batch)
    }
    const ns = Number(process.hrtime.bigint() - start)
    // every message reached the remote nodes (A: shared×2 sends each to both)
    const total = n + 2000
    const want = kind === 'shared2' && remotes[0]!.setShare === undefined ? 2 * total : total
    for (let i = 0; i < 500 && remotes.reduce((x, r) => x + r.stats.delivered, 0) < want; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    const got = remotes.map((r) => r.stats.delivered)
    const used = process.cpuUsage(cpu)
    if (got.reduce((x, y) => x + y, 0) !== want) throw new Error(`${side.name} ${kind}: remote nodes received ${got.join('+')}, expected ${want} in all`)
    const key = `${kind}\t${side.name}`
    received.set(key, got)
    if (!rates.has(key)) rates.set(key, [])
    rates.get(key)!.push(n / (ns / 1e9))
    return (used.user + used.system) / n
  } finally {
    await broker.close()
    await bus.close()
    for (const r of remotes) await r.close()
  }
}

function pickCost (): string[] {
  const out: string[] = []
  for (const groups of [1, 100]) {
    const bus = new RedisBus({ url: server.url, prefix: `pick${groups}:`, nodeId: 'p' })
    for (let g = 0; g < groups; g++) bus.setShare(`$share/g${g}/t/${g}/#`, 1, 1)
    for (const topic of ['t/0/x', 'other/x']) {
      let sink = 0
      for (let i = 0; i < 100_000; i++) sink += bus.pickShares(topic)?.length ?? 0
      const k = 1_000_000
      const start = process.hrtime.bigint()
      for (let i = 0; i < k; i++) sink += bus.pickShares(topic)?.length ?? 0
      const per = Number(process.hrtime.bigint() - start) / k
      out.push(`pickShares, ${groups} group(s), ${topic === 'other/x' ? 'none matches' : 'one matches'}: ${per.toFixed(0)} ns/call (sink ${sink > 0 ? 'ok' : 0})`)
    }
    bus.close().catch(() => {})
  }
  return out
}

try {
  const kinds = (['plain', 'shared', 'shared2'] as const).filter((k) => process.env.ONLY === undefined || process.env.ONLY.split(',').includes(k))
  const results = new Map<string, number[]>()
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      // rotate the order of the sides per round
      const order = r % 2 === 0 ? sides : [...sides].reverse()
      for (const side of order) {
        const key = `${kind}\t${side.name}`
        if (!results.has(key)) results.set(key, [])
        results.get(key)!.push(await entry(side, kind))
      }
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  console.log(`QoS 1 publishes from the measured node, CPU µs per message, median of ${rounds} rounds (min–max), ${n} messages of 64 bytes\n`)
  console.log('| entry | side | CPU µs/msg | min–max | B/A | wall msg/s (median) | received by the remote nodes (last round) |')
  console.log('|---|---|---:|---:|---:|---:|---|')
  for (const kind of kinds) {
    const base = sides.length > 1 ? median(results.get(`${kind}\tA`)!) : null
    for (const side of sides) {
      const xs = results.get(`${kind}\t${side.name}`)!
      const m = median(xs)
      console.log(`| ${kind} | ${side.name} | ${m.toFixed(2)} | ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)} | ${base !== null && side.name !== 'A' ? (m / base).toFixed(2) : ''} | ${median(rates.get(`${kind}\t${side.name}`)!).toFixed(0)} | ${received.get(`${kind}\t${side.name}`)!.join(' + ')} |`)
    }
  }
  console.log()
  if (process.env.PICK !== '0') for (const line of pickCost()) console.log(line)
} finally {
  await server.destroy()
}
