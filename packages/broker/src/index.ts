export type {
  Store, StoreOptions, StoredMessage, SubscriptionRecord, SessionRecord, OutgoingRecord,
  WillRecord, EnqueueResult
} from './store.ts'
export type { Bus, BusMessage } from './bus.ts'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.ts'
export { LocalBus } from './local-bus.ts'
export { BrokerError, BrokerErrorCodes, isBrokerError, type BrokerErrorCode } from './errors.ts'
