import t from 'tap'
import { durabilitySuite } from '@culex/store-suite'
import { startRedis } from './redis-server.ts'

durabilitySuite(t, {
  name: 'RedisStore',
  storeArgs: async (_dir, t) => {
    const server = await startRedis()
    t.teardown(() => server.destroy())
    return ['--store', server.url]
  }
})
