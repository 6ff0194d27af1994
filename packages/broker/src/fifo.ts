/**
 * A first-in first-out queue with O(1) `shift`. `Array.prototype.shift` moves every element
 * once an array is large (tens of thousands of entries, as in the queue of a session
 * reconnecting to a long offline backlog), which made draining such a queue quadratic: with
 * 50,000 queued messages the drain spent most of its time in `shift`. Here the head is an
 * index; the consumed prefix is dropped once it is at least half of the storage.
 */
export class Fifo<T> {
  #items: T[]
  #head = 0

  constructor (items: T[] = []) {
    this.#items = items
  }

  get length (): number {
    return this.#items.length - this.#head
  }

  push (item: T): void {
    this.#items.push(item)
  }

  /** The oldest item, removed; undefined when empty. */
  shift (): T | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]!
    this.#items[this.#head] = undefined as T // not kept alive by the consumed prefix
    this.#head++
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /** Put `items` (oldest first) before everything queued. */
  prepend (items: readonly T[]): void {
    this.#items = items.concat(this.#items.slice(this.#head))
    this.#head = 0
  }

  * [Symbol.iterator] (): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i]!
  }
}
