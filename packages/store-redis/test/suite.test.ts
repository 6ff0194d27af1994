import t from 'tap'
import { storeSuite } from '@culex/store-suite'
import { RedisStore } from '../src/index.ts'
import { startRedis } from './redis-server.ts'

const server = await startRedis()
t.teardown(() => server.destroy())
let n = 0

storeSuite(t, {
  name: 'RedisStore',
  build: async (o) => {
    // a fresh key prefix per store: nothing shared with other tests on this server
    const store = new RedisStore({ url: server.url, prefix: `t${n++}:`, ...o })
    await store.open()
    return { store, teardown: async () => {} }
  },
  buildPair: async (o) => {
    const prefix = `pair${n++}:`
    const a = new RedisStore({ url: server.url, prefix, ...o })
    const b = new RedisStore({ url: server.url, prefix, ...o })
    await Promise.all([a.open(), b.open()])
    return { a, b, teardown: async () => {} }
  },
  modelRuns: 100
})
