import t from 'tap'
import { join } from 'node:path'
import { durabilitySuite } from '@culex/store-suite/e2e'

durabilitySuite(t, {
  name: 'LevelStore',
  storeArgs: (dir) => ['--store', 'level', '--data-dir', join(dir, 'data')]
})
