import t from 'tap'
import { MemoryStore } from '@culex/broker'
import { storeSuite } from '../src/index.ts'

storeSuite(t, {
  name: 'MemoryStore',
  build: async (o) => ({ store: new MemoryStore(o), teardown: async () => {} }),
  pairSkipReason: 'MemoryStore lives in one process: two instances never share a backend'
})
