/**
 * Persistent QoS 1/2 drain and QoS 2 fan-in through Culex + LevelStore, A/B between two
 * builds of @culex/broker in one run (see @culex/store-suite qos2-bench.ts for the phases).
 * Run: CULEX_BROKER_A=/path/to/other/broker/dist/index.js npm run bench:qos2 -w @culex/store-level
 * (without CULEX_BROKER_A only this build runs; env N, ROUNDS, SYNC=false change the run)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { qos2BenchTable, runQos2Bench, type BrokerClass, type Qos2BenchSide } from '@culex/store-suite/bench'
import { Broker } from '@culex/broker'
import { LevelStore } from '../src/index.ts'

const n = Number(process.env.N ?? 5000)
const rounds = Number(process.env.ROUNDS ?? 3)
const sync = process.env.SYNC !== 'false'
const root = await mkdtemp(join(tmpdir(), 'culex-level-qos2-bench-'))
const store = (side: string) => async (run: string) => new LevelStore({ path: join(root, `${side}-${run}`), sync, maxQueuedMessages: 10_000_000 })
const sides: Qos2BenchSide[] = []
const a = process.env.CULEX_BROKER_A
if (a !== undefined && a !== '') {
  const mod = await import(pathToFileURL(resolve(a)).href) as { Broker: BrokerClass }
  sides.push({ name: `A (${a})`, Broker: mod.Broker, makeStore: store('a') })
}
sides.push({ name: 'B (this build)', Broker: Broker as unknown as BrokerClass, makeStore: store('b') })
try {
  const results = await runQos2Bench(sides, n, rounds)
  console.log(`LevelStore (sync: ${String(sync)}), median of ${rounds} rounds\n`)
  console.log(qos2BenchTable(results, n))
} finally {
  await rm(root, { recursive: true, force: true })
}
