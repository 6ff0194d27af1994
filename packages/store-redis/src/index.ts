export { RedisStore, type RedisStoreOptions } from './redis-store.ts'
export { RedisBus, type RedisBusLogger, type RedisBusOptions, type RedisBusStats } from './redis-bus.ts'
export type { RedisClusterNode, RedisClusterOptions, RedisConnectionOptions } from './connection.ts'
export { RedisStoreError, RedisStoreErrorCodes, isRedisStoreError, type RedisStoreErrorCode } from './errors.ts'
