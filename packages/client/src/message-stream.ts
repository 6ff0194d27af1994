/**
 * MessageStream: an async iterator over the messages matching some topic filters.
 *
 * The stream buffers messages from the moment it is created (so retained messages that
 * arrive together with the SUBACK are not missed), up to `bufferSize` messages; past that
 * the oldest buffered message is dropped and counted in `dropped`. Ending the iteration
 * (`break`, `return()`) or calling `close()` detaches it from the client.
 */
import { matches } from '@culex/trie'
import { stripShare } from './topic.ts'
import type { Message } from './types.ts'

/** Default number of messages a stream keeps while nobody is reading it. */
export const DEFAULT_STREAM_BUFFER = 1000

/** An async iterable of messages for some topic filters. */
export class MessageStream implements AsyncIterableIterator<Message> {
  /** Topic filters this stream matches (shared-subscription prefixes stripped). */
  readonly filters: readonly string[]
  /** Messages dropped because the buffer was full. */
  dropped = 0
  #buffer: Message[] = []
  #head = 0
  #waiting: ((r: IteratorResult<Message>) => void) | null = null
  #closed = false
  readonly #bufferSize: number
  readonly #detach: (s: MessageStream) => void

  /**
   * @param filters - topic filters to match
   * @param detach - called once when the stream closes
   * @param bufferSize - messages kept while nobody reads (default 1000)
   */
  constructor (filters: readonly string[], detach: (s: MessageStream) => void, bufferSize = DEFAULT_STREAM_BUFFER) {
    this.filters = filters.map(stripShare)
    this.#detach = detach
    this.#bufferSize = bufferSize
  }

  /** True once closed. */
  get closed (): boolean {
    return this.#closed
  }

  /** @internal Offers a message; returns whether it matched. */
  offer (msg: Message): boolean {
    const filters = this.filters
    let hit = false
    for (let i = 0; i < filters.length; i++) {
      if (matches(filters[i]!, msg.topic)) { hit = true; break }
    }
    if (!hit || this.#closed) return false
    const w = this.#waiting
    if (w !== null) {
      this.#waiting = null
      w({ value: msg, done: false })
      return true
    }
    if (this.#buffer.length - this.#head >= this.#bufferSize) {
      this.#head++
      this.dropped++
    }
    this.#buffer.push(msg)
    return true
  }

  /** Next message; waits until one arrives or the stream closes. */
  next (): Promise<IteratorResult<Message>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++]!
      if (this.#head === this.#buffer.length) {
        this.#buffer = []
        this.#head = 0
      } else if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head)
        this.#head = 0
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => { this.#waiting = resolve })
  }

  /** Stops the iteration and detaches the stream. */
  return (): Promise<IteratorResult<Message>> {
    this.close()
    return Promise.resolve({ value: undefined, done: true })
  }

  /** Closes the stream: buffered messages can still be read, then the iteration ends. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#detach(this)
    const w = this.#waiting
    if (w !== null) {
      this.#waiting = null
      w({ value: undefined, done: true })
    }
  }

  [Symbol.asyncIterator] (): this {
    return this
  }
}
