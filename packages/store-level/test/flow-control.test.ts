import t from 'tap'
import { join } from 'node:path'
import { overloadSuite } from '@culex/store-suite/e2e'

// 4 publishers × 100 unacknowledged to one slow persistent subscriber, on LevelDB
overloadSuite(t, {
  name: 'LevelStore',
  storeArgs: (dir) => ['--store', 'level', '--data-dir', join(dir, 'data')]
})
