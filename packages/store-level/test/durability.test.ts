import t from 'tap'
import { join } from 'node:path'
import { durabilitySuite, heldQos2Suite } from '@culex/store-suite/e2e'

durabilitySuite(t, {
  name: 'LevelStore',
  storeArgs: (dir) => ['--store', 'level', '--data-dir', join(dir, 'data')]
})

heldQos2Suite(t, {
  name: 'LevelStore',
  storeArgs: (dir) => ['--store', 'level', '--data-dir', join(dir, 'data')]
})
