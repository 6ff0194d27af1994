/**
 * In-process subscribers (`broker.subscribe(filter, handler)`): bridges, HTTP streams,
 * consoles. They live in their own trie, walked once per routed message only while at
 * least one exists, so a broker without them pays one length check per message.
 *
 * A handler gets each matching message once per subscription, at the lower of the
 * message's and the subscription's QoS, as a plain {@link StoredMessage} whose payload it
 * may keep (copied once per message, not per handler). Handlers run synchronously inside
 * routing; one that throws or rejects is logged and does not affect the others or the
 * publisher. They bypass the authorization hooks: the code that registers them decides.
 */
import type { QoS } from '@culex/packet'
import { TopicTrie } from '@culex/trie'
import type { Logger } from './options.ts'
import type { Routed } from './routed.ts'
import type { StoredMessage } from './store.ts'

/** Called with each message matching an in-process subscription. */
export type MessageHandler = (message: StoredMessage) => void | Promise<void>

/** Options of {@link Broker.subscribe}. */
export interface LocalSubscribeOptions {
  /** Highest QoS the handler is told (the message's own QoS is capped to it). Default 2. */
  qos?: QoS
}

class LocalSub {
  readonly handler: MessageHandler
  readonly qos: QoS
  constructor (handler: MessageHandler, qos: QoS) {
    this.handler = handler
    this.qos = qos
  }
}

/** @internal The in-process subscriptions of one broker. */
export class LocalSubscribers {
  readonly #trie = new TopicTrie<LocalSub>()
  readonly #logger: Logger
  #size = 0
  // scratch for deliver: matches are collected first so a handler that unsubscribes or
  // subscribes while running does not change the walk
  #hits: LocalSub[] = []
  readonly #collect = (v: LocalSub): void => { this.#hits.push(v) }

  constructor (logger: Logger) {
    this.#logger = logger
  }

  /** Number of subscriptions. */
  get size (): number {
    return this.#size
  }

  /** Add one; returns its removal (idempotent). `filter` is already validated. */
  add (filter: string, handler: MessageHandler, qos: QoS): () => void {
    const sub = new LocalSub(handler, qos)
    this.#trie.add(filter, sub)
    this.#size++
    let active = true
    return () => {
      if (!active) return
      active = false
      this.#trie.remove(filter, sub)
      this.#size--
    }
  }

  /** Hand `m` to every matching handler. */
  deliver (m: Routed): void {
    const hits = this.#hits
    const start = hits.length // re-entrant: a handler publishing routes again
    this.#trie.forEachMatch(m.topic, this.#collect)
    const end = hits.length
    if (end === start) return
    m.own()
    try {
      for (let i = start; i < end; i++) {
        const sub = hits[i]!
        const qos = (sub.qos < m.qos ? sub.qos : m.qos) as QoS
        try {
          const r = sub.handler(m.stored(qos, m.retain))
          if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
            (r as Promise<void>).then(undefined, (err: unknown) => { this.#failed(m.topic, err) })
          }
        } catch (err) {
          this.#failed(m.topic, err)
        }
      }
    } finally {
      hits.length = start
    }
  }

  #failed (topic: string, err: unknown): void {
    this.#logger.error({ topic, err: (err as Error)?.message ?? String(err) }, 'in-process subscriber failed')
  }
}
