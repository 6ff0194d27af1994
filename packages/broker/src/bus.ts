/**
 * The cluster contract of the broker.
 *
 * A `Bus` carries what one broker node must tell the others: every routed PUBLISH (so that
 * subscribers connected to other nodes receive it), session takeovers (a client id that
 * connects on node B disconnects its old connection on node A), shared-subscription
 * dispatch, and node liveness (so survivors publish a dead node's wills).
 *
 * `LocalBus` (in this package) is the single-process bus: it delivers nothing anywhere else.
 * A clustered bus (e.g. `RedisBus` in @culex/store-redis) delivers to every other node; a node
 * never receives its own messages back.
 */
import type { StoredMessage } from './store.ts'

/**
 * A cluster-wide shared-subscription group, `$share/{group}/{filter}`, and the node picked to
 * give the message to one of its members.
 */
export type SharePick = readonly [share: string, node: string]

export type BusMessage =
  /**
   * A PUBLISH routed on the sending node, to be delivered to local subscribers elsewhere.
   * `shares` (a bus with `pickShares`): every shared group the topic matches anywhere, with the
   * node picked for it; a receiver serves the groups picked for it and skips the others (a bus
   * may hand a receiver only its own picks, and no `shares` when none is its).
   */
  | { type: 'publish', nodeId: string, message: StoredMessage, shares?: SharePick[] }
  /**
   * For shared groups only (a QoS 1 message a member left unacknowledged, handed to a member on
   * another node): the picked node serves its groups; nothing else is routed.
   */
  | { type: 'shared', nodeId: string, message: StoredMessage, shares: SharePick[] }
  /**
   * A client id connected on `nodeId`: any other node holding a connection for it closes it
   * (with `epoch`, the claim of that connection: only connections of an older claim).
   */
  | { type: 'takeover', nodeId: string, clientId: string, epoch?: number }
  /**
   * Session handoff (sent with `sendTo` to the previous owner): `nodeId` claimed `clientId`'s
   * session with `epoch`. The receiver closes its connection of an older claim, writes what only
   * it holds to the store, stops holding the session (or ends it: `discard`, a clean start),
   * and answers 'released'.
   */
  | { type: 'release', nodeId: string, clientId: string, epoch: number, discard: boolean }
  /** The answer to 'release': `nodeId` no longer holds `clientId`'s session; its state is in the store. */
  | { type: 'released', nodeId: string, clientId: string, epoch: number }
  /** A subscription changed on `nodeId`; other nodes update their routing for remote sessions. */
  | { type: 'subscriptions', nodeId: string, clientId: string }
  /** Liveness beacon; `at` is the sender's clock in ms. */
  | { type: 'alive', nodeId: string, at: number }

/** A node found dead by {@link Bus.onNodeDead}: this node won the claim on it. */
export interface DeadNode {
  /** The dead node's id. */
  nodeId: string
  /** How long ago (ms) it was last heard from, when it was claimed. */
  downFor: number
}

export interface Bus {
  /** This node's id, unique in the cluster. */
  readonly nodeId: string
  /**
   * Send to every other node (a bus with a route table: a publish only to the nodes with a
   * matching subscription). Resolves once handed to the transport; for a publish on a bus
   * with durable delivery (RedisBus), once written durably: the broker's PUBACK/PUBREC of a
   * QoS 1/2 message waits for it, and a rejection fails that acknowledgement.
   */
  send (message: BusMessage): Promise<void>
  /**
   * Optional route table. `addRoute(filter)` once per subscription (a shared group counts
   * once, by its filter) added to this node's router, `removeRoute(filter)` once per removal.
   * A bus that implements them sends a publish only to nodes with a matching filter.
   */
  addRoute? (filter: string): void
  removeRoute? (filter: string): void
  /**
   * Optional: false when no other node needs a publish on `topic` (the broker then skips
   * `send`). Without it every publish is sent.
   */
  interested? (topic: string): boolean
  /**
   * Optional cluster-wide shared subscriptions. `setShare(share, online, total)`: this node's
   * group `share` (`$share/{group}/{filter}`) has `total` members, `online` of them connected
   * (0, 0: the group left this node). A bus that implements these carries a group's members
   * to no route table (`addRoute` is not called for groups) but to its own table of groups.
   */
  setShare? (share: string, online: number, total: number): void
  /**
   * For each group anywhere in the cluster whose filter matches `topic`, the node that serves
   * this message: balanced over the nodes by connected members (round-robin weighted by their
   * count), among nodes with only offline members when none is connected. Null when no group
   * matches.
   */
  pickShares? (topic: string): SharePick[] | null
  /** A node other than `exclude` to serve group `share` (connected members first), or null. */
  pickShare? (share: string, exclude: string): string | null
  /**
   * Optional (a clustered broker needs it for session handoff): send to one node only, in
   * order with the publishes sent to it, durably where the bus is durable (RedisBus: into
   * that node's inbox stream, read when it runs again). Rejects when there is no such node
   * to send to (LocalBus) or the write fails.
   */
  sendTo? (nodeId: string, message: BusMessage): Promise<void>
  /**
   * Register the single receiver of messages from other nodes. For a publish (or 'shared')
   * the handler may return a promise: the broker's work that must be done before the message
   * counts as received (its store writes, room in a full queue); anything else returned is
   * ignored. A durable bus (RedisBus) marks a message read only once its promise and those of
   * every message before it resolved, reads no further meanwhile (backpressure), and delivers
   * it again after a rejection; so a node killed before its store writes finished receives
   * the message again when it restarts.
   */
  onMessage (handler: (message: BusMessage) => unknown): void
  /**
   * Optional: register the single receiver of dead-node claims. A bus with failure detection
   * calls it on exactly one live node of the cluster (the one that won an atomic claim) once
   * per death of a node: a node that restarts with the same id and dies again is claimed
   * again. The broker then publishes the dead node's wills. Without it, nothing is adopted.
   */
  onNodeDead? (handler: (dead: DeadNode) => void): void
  /**
   * Optional (with `onNodeDead`): this node has adopted the offline sessions of dead node
   * `nodeId` (claimed and routed them here). The bus stops routing to the dead node (its route
   * table goes, after this node's own routes are announced) and hands `deliver` the publishes
   * left for the dead node (RedisBus: its inbox stream, from its saved position; those this
   * node sent included), waiting for the store work it returns; then forgets the dead node's
   * inbox. Until a node is adopted, a bus keeps routing to it, so that nothing is lost while
   * it is down. Resolves with the number of publishes handed over.
   */
  adopt? (nodeId: string, deliver: (message: BusMessage) => unknown): Promise<number>
  /** Node ids currently believed alive, including this one. */
  aliveNodes (): Promise<string[]>
  close (): Promise<void>
}
