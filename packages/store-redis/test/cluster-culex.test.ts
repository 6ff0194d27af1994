import t from 'tap'
import { clusterSuite } from '@culex/store-suite/e2e'
import { clusterStoreArgs, standaloneStoreArgs } from './redis-server.ts'

// two culex processes with --cluster: RedisStore shared, RedisBus between them
clusterSuite(t, { name: 'RedisStore + RedisBus', storeArgs: standaloneStoreArgs })
clusterSuite(t, { name: 'RedisStore + RedisBus on a Redis Cluster', storeArgs: clusterStoreArgs })
