export { MongoStore, type MongoStoreOptions } from './mongo-store.ts'
export { MongoStoreError, MongoStoreErrorCodes, isMongoStoreError, type MongoStoreErrorCode } from './errors.ts'
