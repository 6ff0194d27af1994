/**
 * Persistent QoS 1/2 drain and QoS 2 fan-in through Culex + RedisStore, A/B between two
 * builds of @culex/broker in one run (see @culex/store-suite qos2-bench.ts for the phases),
 * on a redis-server started here (AOF, appendfsync everysec), a key prefix per run.
 * Run: CULEX_BROKER_A=/path/to/other/broker/dist/index.js npm run bench:qos2 -w @culex/store-redis
 * (without CULEX_BROKER_A only this build runs; env N, ROUNDS change the run)
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { qos2BenchTable, runQos2Bench, type BrokerClass, type Qos2BenchSide } from '@culex/store-suite/bench'
import { Broker } from '@culex/broker'
import { RedisStore } from '../src/index.ts'
import { startRedis } from '../test/redis-server.ts'

const n = Number(process.env.N ?? 5000)
const rounds = Number(process.env.ROUNDS ?? 3)
const server = await startRedis(['--appendfsync', 'everysec'])
const store = (side: string) => async (run: string): Promise<RedisStore> => {
  // a prefix per run: each run starts on an empty store
  const s = new RedisStore({ url: server.url, prefix: `b:${side}:${run}:`, maxQueuedMessages: 10_000_000 })
  await s.open()
  return s
}
const sides: Qos2BenchSide[] = []
const a = process.env.CULEX_BROKER_A
if (a !== undefined && a !== '') {
  const mod = await import(pathToFileURL(resolve(a)).href) as { Broker: BrokerClass }
  sides.push({ name: `A (${a})`, Broker: mod.Broker, makeStore: store('a') })
}
sides.push({ name: 'B (this build)', Broker: Broker as unknown as BrokerClass, makeStore: store('b') })
try {
  const results = await runQos2Bench(sides, n, rounds)
  console.log(`RedisStore (appendfsync everysec), median of ${rounds} rounds\n`)
  console.log(qos2BenchTable(results, n))
} finally {
  await server.destroy()
}
