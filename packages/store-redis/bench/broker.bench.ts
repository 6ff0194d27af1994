/**
 * Culex + RedisStore against aedes 1.2.0 + aedes-persistence-redis 12.0.0, through whole
 * brokers over TCP (see @culex/store-suite bench.ts for the phases), each on its own fresh
 * redis-server (AOF, appendfsync everysec: Redis's usual durable setting) started here.
 * Run: npm run bench -w @culex/store-redis   (env N, R change the sizes)
 */
import { createRequire } from 'node:module'
import { aedesContestant, benchTable, culexContestant, runPersistenceBench } from '@culex/store-suite/bench'
import { RedisStore } from '../src/index.ts'
import { startRedis, type RedisServer } from '../test/redis-server.ts'

const require = createRequire(new URL('../../../apps/bench/package.json', import.meta.url))
const aedesPersistenceRedis = require('aedes-persistence-redis') as (opts: unknown) => unknown
const n = Number(process.env.N ?? 20000)
const r = Number(process.env.R ?? 100000)
const servers: RedisServer[] = []
const server = async (): Promise<RedisServer> => {
  const s = await startRedis(['--appendfsync', 'everysec'])
  servers.push(s)
  return s
}
try {
  const results = await runPersistenceBench([
    culexContestant('Culex + RedisStore', async (max) => new RedisStore({ url: (await server()).url, maxQueuedMessages: max })),
    aedesContestant('aedes + aedes-persistence-redis', async () => aedesPersistenceRedis({ port: (await server()).port, host: '127.0.0.1', maxSessionDelivery: 10_000_000 }))
  ], n, r)
  console.log(benchTable(results, n, r))
} finally {
  for (const s of servers) await s.destroy()
}
// aedes-persistence-redis keeps its ioredis connections (and their reconnect timers) after
// aedes closes; end the process instead of waiting for them
process.exit(0)
