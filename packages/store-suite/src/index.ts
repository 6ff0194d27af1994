export { storeSuite, type StoreSuiteOptions, type StoreHarness, type StorePairHarness } from './suite.ts'
export { matches } from '@culex/trie'
export { allBytes, msg, richMessage, richWill, session, plain } from './fixtures.ts'
