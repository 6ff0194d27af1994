export type {
  Store, StoreOptions, StoredMessage, SubscriptionRecord, SessionRecord, OutgoingRecord, SessionClaim, SessionOwner,
  WillRecord, EnqueueResult, OutgoingUpdate
} from './store.ts'
export type { Bus, BusMessage, DeadNode, SharePick } from './bus.ts'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.ts'
export { LocalBus } from './local-bus.ts'
export { BrokerError, BrokerErrorCodes, isBrokerError, type BrokerErrorCode } from './errors.ts'
export {
  Broker, type BrokerEvents, type BrokerStats, type PublishInput, type GrantedSubscription
} from './broker.ts'
export {
  DEFAULT_LIMITS, type BrokerOptions, type BrokerLimits, type BrokerHooks, type Client,
  type ConnectionInfo, type Transport, type AuthResult, type EnhancedAuthRequest,
  type EnhancedAuthResponse, type Logger, type QueuePolicy
} from './options.ts'
export { VERSION } from './sys.ts'
export { realClock, type Clock, type ClockTimer } from './clock.ts'
export type { BrokerMetrics, DropCounts, PerQos } from './metrics.ts'
export {
  TimedStore, STORE_OPERATIONS, STORE_LATENCY_BUCKETS, type StoreOperation, type StoreTimings, type StoreOperationTiming,
  type TimedStoreOptions
} from './timed-store.ts'
export type { MessageHandler, LocalSubscribeOptions } from './local-subscribers.ts'
export {
  packRecord, unpackRecord, messageHead, messageFromHead, packWill, willFromRecord,
  type UnpackedRecord
} from '@culex/packet/record'
export { listSessions, describeSession, type SessionInfo, type SubscriptionInfo } from './inspect.ts'
