import t from 'tap'
import { MongoClient } from 'mongodb'
import { durabilitySuite } from '@culex/store-suite/e2e'
import { startMongo } from './mongo-server.ts'

// culex on `--store mongodb://…`, SIGKILLed while publishers send QoS 1 and 2, restarted on
// the same database: runs where a MongoDB server exists (see mongo-server.ts), else skips
// with the reason
const server = await startMongo()
if ('skip' in server) {
  t.plan(0, server.skip)
} else {
  t.teardown(() => server.stop())
  let n = 0
  durabilitySuite(t, {
    name: 'MongoStore',
    storeArgs: (_dir, t) => {
      // a database of its own per run, dropped afterwards
      const database = `culex_durability_${process.pid}_${n++}`
      // the URL's path is its database; a host list (replica set) is no WHATWG URL, so by hand
      const [base, query] = server.url.split('?') as [string, string | undefined]
      const path = base.indexOf('/', base.indexOf('://') + 3)
      const url = `${path < 0 ? base : base.slice(0, path)}/${database}${query === undefined ? '' : `?${query}`}`
      t.teardown(async () => {
        const c = new MongoClient(server.url)
        await c.db(database).dropDatabase().finally(async () => { await c.close() })
      })
      return ['--store', url]
    }
  })
}
