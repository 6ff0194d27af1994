/**
 * The persistence contract of the broker.
 *
 * A `Store` keeps everything that must survive a broker restart or move between the nodes of
 * a cluster: sessions and their subscriptions, retained messages, each session's outgoing
 * queue (offline messages and unacknowledged inflight messages), the packet ids of incoming
 * QoS 2 messages not yet released, and will messages.
 *
 * Invariants every implementation keeps (checked by the `store-suite` contract tests):
 * - Every method resolves only once the change is durable to the degree the store promises
 *   (documented per store). The broker sends PUBACK / PUBREC for a QoS 1/2 publish only after
 *   `enqueue` for every offline persistent subscriber and `putRetained` have resolved.
 * - Keys are per client id, so several broker nodes can share one store.
 * - Buffers passed in may be views of socket chunks: a store that keeps data in memory copies
 *   them; a store that serialises them does not need to.
 * - Stored data is returned in a fresh object; mutating it does not change the store.
 * - Times are absolute milliseconds since the epoch (`Date.now()` clock).
 */
import type { QoS, WillProperties } from '@culex/packet'
import type { RecordMessage } from '@culex/packet/record'

/**
 * A message as the store keeps it: one PUBLISH, independent of any connection. The same type
 * as `RecordMessage` of `@culex/packet/record`, the codec of the stores that keep bytes.
 */
export type StoredMessage = RecordMessage

/** A subscription of one session. */
export interface SubscriptionRecord {
  /** The full filter as subscribed, including a `$share/{group}/` prefix. */
  topic: string
  qos: QoS
  /** No local (MQTT 5). */
  nl: boolean
  /** Retain as published (MQTT 5). */
  rap: boolean
  /** Retain handling 0, 1, 2 (MQTT 5). */
  rh: 0 | 1 | 2
  /** Subscription identifier (MQTT 5), absent if none. */
  subscriptionId?: number
}

/** A session as the store keeps it. */
export interface SessionRecord {
  clientId: string
  /** Protocol level the session was last connected with (3, 4 or 5). */
  protocolVersion: 3 | 4 | 5
  /**
   * Session expiry interval in seconds once disconnected. 0xFFFFFFFF never expires.
   * MQTT 3.x persistent sessions use 0xFFFFFFFF unless the operator configures a TTL.
   */
  expiryInterval: number
  /** Absolute time (ms) after which the disconnected session is gone; absent while connected. */
  expiresAt?: number
  subscriptions: SubscriptionRecord[]
  /**
   * Username of the identity the session belongs to; absent for an anonymous owner. A
   * connection with another username does not resume the session, and offline
   * authorization decides for this username.
   */
  username?: string
}

/** One entry of a session's outgoing queue. */
/** The state of an outgoing record once its delivery went out (see Store.updateOutgoing). */
export interface OutgoingUpdate {
  messageId: number
  state: 'sent' | 'pubrel'
}

export interface OutgoingRecord {
  /** Queue position, assigned by the store on enqueue; strictly increasing per client. */
  seq: number
  /** Assigned when the message is sent (inflight); absent while it waits in the queue. */
  messageId?: number
  /**
   * 'queued': not yet sent. 'sent': PUBLISH sent, awaiting PUBACK (QoS 1) or PUBREC (QoS 2).
   * 'pubrel': PUBREC received, PUBREL sent, awaiting PUBCOMP (QoS 2).
   */
  state: 'queued' | 'sent' | 'pubrel'
  /** QoS of this delivery (already downgraded to the subscription's granted QoS). */
  message: StoredMessage
  /** Subscription identifiers to send with this delivery. */
  subscriptionIds?: number[]
}

/** A will message waiting to be published, with the node that owns the connection. */
export interface WillRecord {
  clientId: string
  /** Broker node id that holds the connection; lets survivors publish a dead node's wills. */
  nodeId: string
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  properties?: WillProperties
  /** Absolute time (ms) at which to publish it, when delayed (will delay interval). */
  publishAt?: number
}

/** Result of enqueue. */
export interface EnqueueResult {
  /** The seq of the stored record. */
  seq: number
  /**
   * For an enqueue without `sent`: the number of 'queued' records of this client after it
   * (the broker ends an offline session beyond `limits.maxStoredMessages`). 0 with `sent`.
   */
  queued: number
}

/** The owner of a client id's session in a cluster (see Store.claimSession). */
export interface SessionOwner {
  /** The broker node that owns the session. */
  nodeId: string
  /** Bumped by every claim; the highest epoch is the current owner. */
  epoch: number
}

/** Result of Store.claimSession. */
export interface SessionClaim {
  /** The epoch of this claim: one more than the previous claim's (1 for the first). */
  epoch: number
  /** The node that owned the session before this claim, or null (never claimed). */
  previous: string | null
}

/** Options every store constructor accepts (in addition to its own). */
export interface StoreOptions {
  /**
   * @deprecated Ignored: a store never drops a queued message (an acknowledged message must not
   * be lost silently). The broker bounds offline queues with `limits.maxStoredMessages`.
   */
  maxQueuedMessages?: number
}

export interface Store {
  // ---- sessions ----
  /** The stored session, or null if none (or expired). */
  getSession (clientId: string): Promise<SessionRecord | null>
  /** Create or replace the session record (subscriptions included). */
  saveSession (session: SessionRecord): Promise<void>
  /**
   * Delete a session and everything keyed by it: subscriptions, outgoing queue, incoming
   * QoS 2 ids. Wills are separate (see `deleteWill`).
   */
  deleteSession (clientId: string): Promise<void>
  /** Add or replace (by topic) subscriptions of a session; creates nothing if no session. */
  addSubscriptions (clientId: string, subs: SubscriptionRecord[]): Promise<void>
  /** Remove subscriptions by filter; returns which filters existed. */
  removeSubscriptions (clientId: string, topics: string[]): Promise<boolean[]>
  /**
   * Every stored session (not expired), for rebuilding the routing table at start and for
   * expiry sweeps. Order unspecified.
   */
  sessions (): AsyncIterable<SessionRecord>
  /** Mark a session disconnected at `now` so it expires at now + expiryInterval. */
  setSessionExpiry (clientId: string, expiresAt: number | undefined): Promise<void>
  /** Delete sessions whose `expiresAt` <= now; returns their client ids. */
  expireSessions (now: number): Promise<string[]>

  // ---- retained ----
  /** Store or replace the retained message of `message.topic`; an empty payload deletes it. */
  putRetained (message: StoredMessage): Promise<void>
  /** Every non-expired retained message whose topic matches `filter` (MQTT semantics). */
  matchRetained (filter: string): Promise<StoredMessage[]>
  /** Number of retained messages. */
  countRetained (): Promise<number>

  // ---- outgoing (offline queue + inflight) ----
  /**
   * Append a message to one client's outgoing queue in state 'queued'. Nothing is ever
   * dropped; the result tells how many 'queued' records the client has now.
   * With `sent`, the delivery already went out: the record starts in that state with that
   * packet id, in the same write (as if `updateOutgoing` followed at once, but with no
   * moment in between), and it does not count towards the bound.
   */
  enqueue (clientId: string, message: StoredMessage, subscriptionIds?: number[], sent?: OutgoingUpdate): Promise<EnqueueResult>
  /** Append the same message to many clients' queues (one fan-out, one round trip if possible). */
  enqueueMany (entries: ReadonlyArray<{ clientId: string, subscriptionIds?: number[] }>, message: StoredMessage): Promise<void>
  /** Mark a record sent with a packet id (state 'sent'), or move it to 'pubrel'. */
  updateOutgoing (clientId: string, seq: number, update: OutgoingUpdate): Promise<void>
  /** Remove the record with this packet id (PUBACK or PUBCOMP); resolves to it, or null. */
  ackOutgoing (clientId: string, messageId: number): Promise<OutgoingRecord | null>
  /** Remove a record by seq (e.g. an expired or undeliverable message). */
  removeOutgoing (clientId: string, seq: number): Promise<void>
  /**
   * The client's outgoing records in seq order (inflight first as they were sent, then queued),
   * dropping (and deleting) 'queued' records whose `expiresAt` <= now. Records already sent
   * ('sent', 'pubrel') are kept even when expired: onward delivery has started, and the spec
   * only deletes copies not yet sent [MQTT-3.3.2-5].
   */
  outgoing (clientId: string, now: number): Promise<OutgoingRecord[]>

  // ---- incoming QoS 2 ----
  /** Remember an incoming QoS 2 packet id (PUBREC sent, PUBREL not yet received). */
  putIncoming (clientId: string, messageId: number): Promise<void>
  /** Whether the id is remembered. */
  hasIncoming (clientId: string, messageId: number): Promise<boolean>
  /** Forget an incoming id (PUBREL received). */
  deleteIncoming (clientId: string, messageId: number): Promise<void>

  // ---- wills ----
  putWill (will: WillRecord): Promise<void>
  getWill (clientId: string): Promise<WillRecord | null>
  deleteWill (clientId: string): Promise<void>
  /** Wills owned by a node (to publish the wills of a node that died). */
  willsOfNode (nodeId: string): Promise<WillRecord[]>
  /**
   * Optional: remove the will of `clientId` and return it if it is still owned by `nodeId`,
   * else change nothing and return null; atomic, so of two nodes taking the same will one
   * gets it. The broker publishes a dead node's wills (and those of its own earlier run)
   * through it, so each is published once cluster-wide. Without it the broker reads the will
   * and deletes it once published.
   */
  takeWill? (clientId: string, nodeId: string): Promise<WillRecord | null>

  // ---- ownership (clusters) ----
  /**
   * Optional (a clustered broker needs it): make `nodeId` the owner of `clientId`'s session,
   * atomically: the epoch goes up by one and the previous owner is returned. Of two claims
   * racing on any nodes, the one with the higher epoch wins. The owner record is separate
   * from the session: `deleteSession` keeps it, so epochs never go back.
   */
  claimSession? (clientId: string, nodeId: string): Promise<SessionClaim>
  /** Optional, with claimSession: the current owner of `clientId`'s session, or null (never claimed). */
  sessionOwner? (clientId: string): Promise<SessionOwner | null>

  /** Release connections and handles. Further calls reject. */
  close (): Promise<void>
}
