/**
 * What the bridge-session guard adds to a per-delivery hook: `authorizeForward` (run for
 * every delivery when a plugin has `authorizeRead`) called directly and through
 * `guardBridgeSessions` (installed only when the config has bridges), for a client that is
 * not a bridge session. Rounds alternate A/B in one process; medians are reported.
 *
 * Run: npx tsx bench/bridge-guard.bench.ts   (BENCH_CALLS=20000000 BENCH_ROUNDS=5 by default)
 */
import type { BrokerHooks, Client, StoredMessage } from '@culex/broker'
import { bridgeAccess, guardBridgeSessions } from '../src/bridge-local.ts'

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

const hooks: BrokerHooks = { authorizeForward: (c, m) => c.id.length > 100 ? null : m }
const guarded = guardBridgeSessions(hooks, bridgeAccess([{ name: 'cloud' } as never, { name: 'backup' } as never]))
const clients = Array.from({ length: 64 }, (_, i) => ({ id: `sensor-${i}` }) as unknown as Client)
const m = { topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: false } as StoredMessage

function run (f: NonNullable<BrokerHooks['authorizeForward']>): number {
  let sink = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < CALLS; i++) if (f(clients[i & 63]!, m) !== null) sink++
  const ns = Number(process.hrtime.bigint() - t0)
  if (sink !== CALLS) throw new Error('sink')
  return ns / CALLS
}

const a: number[] = []
const b: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  a.push(run(hooks.authorizeForward!))
  b.push(run(guarded.authorizeForward!))
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
console.log(`authorizeForward direct: ${median(a).toFixed(2)} ns/call; through the bridge guard: ${median(b).toFixed(2)} ns/call (+${(median(b) - median(a)).toFixed(2)} ns)`)
