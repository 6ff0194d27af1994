import t from 'tap'
import { storeSuite } from '@culex/store-suite'
import { MongoStore } from '../src/index.ts'
import { startMongo } from './mongo-server.ts'

const server = await startMongo()
if ('skip' in server) {
  t.plan(0, server.skip)
} else {
  t.teardown(() => server.stop())
  const run = `culex_test_${process.pid}_${Date.now()}`
  let n = 0
  t.teardown(async () => {
    const s = new MongoStore({ url: server.url, database: run })
    await s.open()
    await s.db!.dropDatabase()
    await s.close()
  })
  storeSuite(t, {
    name: 'MongoStore',
    build: async (o) => {
      const store = new MongoStore({ url: server.url, database: run, prefix: `t${n++}_`, ...o })
      await store.open()
      return { store, teardown: async () => {} }
    },
    buildPair: async (o) => {
      const prefix = `pair${n++}_`
      const a = new MongoStore({ url: server.url, database: run, prefix, ...o })
      const b = new MongoStore({ url: server.url, database: run, prefix, ...o })
      await Promise.all([a.open(), b.open()])
      return { a, b, teardown: async () => {} }
    },
    modelRuns: 20
  })
}
