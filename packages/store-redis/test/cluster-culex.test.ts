import t from 'tap'
import { clusterSuite } from '@culex/store-suite'
import { startRedis, startRedisCluster } from './redis-server.ts'

// two culex processes with --cluster: RedisStore shared, RedisBus between them

clusterSuite(t, {
  name: 'RedisStore + RedisBus',
  storeArgs: async (_dir, t) => {
    const server = await startRedis()
    t.teardown(() => server.destroy())
    return ['--store', server.url]
  }
})

clusterSuite(t, {
  name: 'RedisStore + RedisBus on a Redis Cluster',
  storeArgs: async (_dir, t) => {
    const cluster = await startRedisCluster()
    t.teardown(() => cluster.destroy())
    return ['--store', cluster.url]
  }
})
