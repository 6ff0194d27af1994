import t from 'tap'
import { MongoStore, isMongoStoreError } from '../src/index.ts'

// No server is needed for these: they check the failure paths that never reach one.

t.test('an unreachable server fails with STORE_MONGO_ERR_UNAVAILABLE in bounded time', async (t) => {
  // port 9 (discard) on localhost: nothing listens there in the test environment
  const store = new MongoStore({ url: 'mongodb://127.0.0.1:9/culex', client: { serverSelectionTimeoutMS: 300 } })
  const started = Date.now()
  const err = await store.getSession('c').then(() => null, (e: unknown) => e)
  t.ok(isMongoStoreError(err), 'a MongoStoreError')
  t.equal((err as { code: string }).code, 'STORE_MONGO_ERR_UNAVAILABLE')
  t.match((err as Error).message, /MongoStore: connecting failed/)
  t.ok(Date.now() - started < 5000, 'bounded by serverSelectionTimeoutMS')
  await store.close()
  await t.rejects(store.getSession('c'), { code: 'STORE_MONGO_ERR_CLOSED' }, 'after close')
  await t.rejects(store.close(), { code: 'STORE_MONGO_ERR_CLOSED' })
})
