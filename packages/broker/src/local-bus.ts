/**
 * `LocalBus`: the single-process {@link Bus}. A message sent on it goes nowhere, because
 * there is no other node; the only alive node is this one.
 */
import { randomUUID } from 'node:crypto'
import type { Bus, BusMessage, DeadNode, SharePick } from './bus.ts'

/**
 * The bus of a broker that runs alone.
 *
 * @example
 * ```ts
 * const broker = new Broker({ bus: new LocalBus('node-1') })
 * ```
 */
export class LocalBus implements Bus {
  /** This node's id. */
  readonly nodeId: string
  #closed = false

  /** @param nodeId - this node's id; default a random UUID */
  constructor (nodeId: string = randomUUID()) {
    this.nodeId = nodeId
  }

  /** Resolves at once: there is no other node. Rejects once closed. */
  async send (_message: BusMessage): Promise<void> {
    if (this.#closed) throw new Error(`LocalBus ${this.nodeId}: send after close`)
  }

  /** Accepted: a lone node serves every group itself. */
  setShare (_share: string, _online: number, _total: number): void {}

  /** Null: no group is served anywhere else (the broker serves its groups itself). */
  pickShares (_topic: string): SharePick[] | null {
    return null
  }

  /** Null: there is no other node. */
  pickShare (_share: string, _exclude: string): string | null {
    return null
  }

  /** Rejects: there is no other node to send to. */
  async sendTo (nodeId: string, _message: BusMessage): Promise<void> {
    throw new Error(`LocalBus ${this.nodeId}: no node ${JSON.stringify(nodeId)} (a LocalBus has no other node)`)
  }

  /** Accepted and never called: no other node sends anything. */
  onMessage (_handler: (message: BusMessage) => unknown): void {}

  /** Accepted and never called: no other node can die. */
  onNodeDead (_handler: (dead: DeadNode) => void): void {}

  /** Nothing to hand over: no other node exists. */
  async adopt (_nodeId: string, _deliver: (message: BusMessage) => unknown): Promise<number> {
    return 0
  }

  /** Just this node. */
  async aliveNodes (): Promise<string[]> {
    return [this.nodeId]
  }

  async close (): Promise<void> {
    this.#closed = true
  }
}
