import t from 'tap'
import { durabilitySuite } from '@culex/store-suite/e2e'
import { sharedClusterStoreArgs, standaloneStoreArgs } from './redis-server.ts'

durabilitySuite(t, { name: 'RedisStore', storeArgs: standaloneStoreArgs })

// the same end-to-end run with culex on `--store redis+cluster://…` (3 masters): the
// client's queue, its packet ids and the retained message live in different slots; one
// cluster for both runs, emptied in between
durabilitySuite(t, { name: 'RedisStore on a Redis Cluster', storeArgs: sharedClusterStoreArgs(t) })
