export type {
  Store, StoreOptions, StoredMessage, SubscriptionRecord, SessionRecord, OutgoingRecord,
  WillRecord, EnqueueResult
} from './store.ts'
export type { Bus, BusMessage } from './bus.ts'
