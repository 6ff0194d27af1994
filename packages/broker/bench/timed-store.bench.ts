/**
 * The cost of timing store calls (`storeMetrics: true`): the QoS 1 store round of one
 * delivery to a persistent session (enqueue, updateOutgoing, ackOutgoing) on a MemoryStore —
 * the fastest store, so the wrapper's share is the largest it can be — plain, through
 * TimedStore (async frame + try/finally, the one kept), and through a `.then` closure per call
 * (kept for comparison). Interleaved rounds; prints ns per round and the ratios.
 *
 * Three runs on 2026-12-07 (2 cores, load average 1 to 17): TimedStore 1.12–1.98× plain
 * (+160 to +1,770 ns per round of 3 calls), `.then` 1.08–1.56×. The closure variant was no
 * slower, but it allocates a closure per call; TimedStore allocates only its promise, and most
 * of its cost is the two clock reads (performance.now took about 0.1 µs each on the loaded
 * machine). Either is noise next to a LevelDB or Redis write.
 *
 *   npm run bench:timed-store -w @culex/broker
 */
import { MemoryStore, TimedStore, type Store, type StoredMessage } from '../src/index.ts'

/** The loser: one closure per call to capture the start time. */
class ThenTimed {
  counts = new Float64Array(16)
  sum = 0
  readonly inner: Store
  constructor (inner: Store) { this.inner = inner }
  #rec (t0: number): void {
    const d = (performance.now() - t0) / 1000
    this.sum += d
    this.counts[d < 0.0001 ? 0 : 1]!++
  }

  enqueue (...a: Parameters<Store['enqueue']>): ReturnType<Store['enqueue']> {
    const t0 = performance.now()
    return this.inner.enqueue(...a).then((r) => { this.#rec(t0); return r })
  }

  updateOutgoing (...a: Parameters<Store['updateOutgoing']>): ReturnType<Store['updateOutgoing']> {
    const t0 = performance.now()
    return this.inner.updateOutgoing(...a).then(() => { this.#rec(t0) })
  }

  ackOutgoing (...a: Parameters<Store['ackOutgoing']>): ReturnType<Store['ackOutgoing']> {
    const t0 = performance.now()
    return this.inner.ackOutgoing(...a).then((r) => { this.#rec(t0); return r })
  }
}

type Round = Pick<Store, 'enqueue' | 'updateOutgoing' | 'ackOutgoing'>
const m: StoredMessage = { topic: 'a/b', payload: Buffer.alloc(64), qos: 1, retain: false }
let sink = 0

async function run (s: Round, n: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const id = (i % 65535) + 1
    const r = await s.enqueue('c', m)
    await s.updateOutgoing('c', r.seq, { messageId: id, state: 'sent' })
    sink += (await s.ackOutgoing('c', id))?.seq ?? 0
  }
  return Number(process.hrtime.bigint() - t0) / n
}

const variants: Array<[string, Round]> = [
  ['plain', new MemoryStore()],
  ['TimedStore', new TimedStore(new MemoryStore())],
  ['.then closure', new ThenTimed(new MemoryStore())]
]
const N = 100_000
const ROUNDS = 7
const ns: Record<string, number[]> = {}
for (const [name, s] of variants) { await run(s, 20_000); ns[name] = [] }
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < variants.length; k++) {
    const [name, s] = variants[(k + r) % variants.length]!
    ns[name]!.push(await run(s, N))
  }
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!
const base = median(ns.plain!)
for (const [name] of variants) {
  const v = ns[name]!
  console.log(`${name.padEnd(14)} ${median(v).toFixed(0).padStart(6)} ns/round (min ${Math.min(...v).toFixed(0)}, max ${Math.max(...v).toFixed(0)})  ${(median(v) / base).toFixed(3)}× plain`)
}
if (sink < 0) console.log(sink)
