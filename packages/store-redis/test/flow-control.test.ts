import t from 'tap'
import { overloadSuite } from '@culex/store-suite/e2e'
import { standaloneStoreArgs } from './redis-server.ts'

// 4 publishers × 100 unacknowledged to one slow persistent subscriber, on Redis
overloadSuite(t, { name: 'RedisStore', storeArgs: standaloneStoreArgs })
