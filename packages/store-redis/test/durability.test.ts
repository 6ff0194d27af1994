import t from 'tap'
import { durabilitySuite } from '@culex/store-suite'
import { startRedis, startRedisCluster } from './redis-server.ts'

durabilitySuite(t, {
  name: 'RedisStore',
  storeArgs: async (_dir, t) => {
    const server = await startRedis()
    t.teardown(() => server.destroy())
    return ['--store', server.url]
  }
})

// the same end-to-end run with culex on `--store redis+cluster://…` (3 masters): the
// client's queue, its packet ids and the retained message live in different slots
durabilitySuite(t, {
  name: 'RedisStore on a Redis Cluster',
  storeArgs: async (_dir, t) => {
    const cluster = await startRedisCluster()
    t.teardown(() => cluster.destroy())
    return ['--store', cluster.url]
  }
})
