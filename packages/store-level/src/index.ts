export { LevelStore, type LevelStoreOptions } from './level-store.ts'
export { LevelStoreError, LevelStoreErrorCodes, isLevelStoreError, type LevelStoreErrorCode } from './errors.ts'
