/**
 * A tiny typed event emitter that runs in Node and in browsers (no `node:events`).
 * Listeners run synchronously in registration order; a listener that throws does not stop
 * the others: the error is rethrown asynchronously so it is still reported.
 */

/** Map of event name → listener argument tuple. */
export type EventMap = Record<string, unknown[]>

/** Listener for event `K` of map `E`. */
export type Listener<E extends EventMap, K extends keyof E> = (...args: E[K]) => void

/** Minimal typed event emitter. */
export class Emitter<E extends EventMap> {
  #listeners: { [K in keyof E]?: Array<Listener<E, K>> } = {}

  /** Adds `fn` for `event`. Returns `this`. */
  on<K extends keyof E> (event: K, fn: Listener<E, K>): this {
    const list = this.#listeners[event]
    if (list === undefined) this.#listeners[event] = [fn]
    else list.push(fn)
    return this
  }

  /** Adds `fn` for the next `event` only. Returns `this`. */
  once<K extends keyof E> (event: K, fn: Listener<E, K>): this {
    const wrapper: Listener<E, K> = (...args) => {
      this.off(event, wrapper)
      fn(...args)
    }
    return this.on(event, wrapper)
  }

  /** Removes `fn` from `event`. Returns `this`. */
  off<K extends keyof E> (event: K, fn: Listener<E, K>): this {
    const list = this.#listeners[event]
    if (list !== undefined) {
      const i = list.indexOf(fn)
      if (i !== -1) this.#listeners[event] = list.filter((_, j) => j !== i)
    }
    return this
  }

  /** Number of listeners of `event`. */
  listenerCount (event: keyof E): number {
    return this.#listeners[event]?.length ?? 0
  }

  /** Calls every listener of `event`; returns whether there was one. */
  emit<K extends keyof E> (event: K, ...args: E[K]): boolean {
    const list = this.#listeners[event]
    if (list === undefined || list.length === 0) return false
    if (list.length === 1) {
      list[0]!(...args)
      return true
    }
    for (const fn of list) {
      try {
        fn(...args)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
    return true
  }
}
