import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storeSuite } from '@culex/store-suite'
import { LevelStore } from '../src/index.ts'

const root = await mkdtemp(join(tmpdir(), 'culex-level-suite-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let n = 0

storeSuite(t, {
  name: 'LevelStore',
  build: async (o) => {
    const path = join(root, String(n++))
    const store = new LevelStore({ path, ...o })
    await store.open()
    return { store, teardown: () => rm(path, { recursive: true, force: true }) }
  },
  pairSkipReason: 'LevelDB locks its directory: one process, one LevelStore per directory (own.test.ts checks that a second open fails clearly)',
  modelRuns: 50
})

// the same contract with retained messages read from disk instead of the in-memory copy
storeSuite(t, {
  name: 'LevelStore (cacheRetained: false)',
  build: async (o) => {
    const path = join(root, String(n++))
    const store = new LevelStore({ path, cacheRetained: false, ...o })
    await store.open()
    return { store, teardown: () => rm(path, { recursive: true, force: true }) }
  },
  pairSkipReason: 'LevelDB locks its directory: one process, one LevelStore per directory (own.test.ts checks that a second open fails clearly)',
  modelRuns: 50
})
