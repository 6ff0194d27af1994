import t from 'tap'
import { join } from 'node:path'
import { heldQos2Suite } from '@culex/store-suite/e2e'

// QoS 2 exactly once over several SIGKILLs (CULEX_DURABILITY_CYCLES=20 for a longer run, with
// a longer tap timeout: npx tap --timeout 400 test/durability-qos2.test.ts)
heldQos2Suite(t, {
  name: 'LevelStore',
  storeArgs: (dir) => ['--store', 'level', '--data-dir', join(dir, 'data')]
})
