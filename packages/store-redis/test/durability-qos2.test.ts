import t from 'tap'
import { heldQos2Suite } from '@culex/store-suite/e2e'
import { standaloneStoreArgs } from './redis-server.ts'

// QoS 2 exactly once over several SIGKILLs (CULEX_DURABILITY_CYCLES=20 for a longer run, with
// a longer tap timeout: npx tap --timeout 400 test/durability-qos2.test.ts)
heldQos2Suite(t, { name: 'RedisStore', storeArgs: standaloneStoreArgs })
