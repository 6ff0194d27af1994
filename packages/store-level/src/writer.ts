/**
 * Group commit for LevelDB. Mutations are computed synchronously against the store's
 * in-memory indexes, then handed here as put/del operations. While one batch is being
 * written (and, with `sync`, fsynced), new operations accumulate into the next batch; so
 * one fsync covers every operation issued meanwhile. Each batch is atomic and batches are
 * written strictly one after another, so a later operation on a key always wins.
 *
 * Until its batch is on disk an operation is visible to reads through `peek` (the overlay),
 * so a read issued after a write sees it even before the write's promise resolves.
 *
 * Per operation this costs two array slots: no object per operation and no Map entry. The
 * overlay Map is built only when `peek` is called while operations are pending, and dropped
 * when a batch is written (the next `peek` rebuilds it from what is still pending). Most
 * batches are never peeked at (an offline queue only appends). 50,000 LevelStore enqueues to
 * one client, 32 per batch, sync off: 160 → 141 µs per batch without the object and the Map
 * set and delete per operation.
 */
import type { ClassicLevel } from 'classic-level'
import { LevelStoreError } from './errors.ts'

/** The batch being filled: one promise for every commit() issued while it fills. */
interface Pending { promise: Promise<void>, resolve: () => void, reject: (err: Error) => void }

function pending (): Pending {
  const d = {} as Pending
  d.promise = new Promise<void>((resolve, reject) => { d.resolve = resolve; d.reject = reject })
  return d
}

function addAll (o: Map<string, Buffer | null>, keys: string[], vals: Array<Buffer | null>): void {
  for (let i = 0; i < keys.length; i++) o.set(keys[i]!, vals[i]!)
}

export class GroupWriter {
  readonly #db: ClassicLevel<string, Buffer>
  readonly #sync: boolean
  /** The batch being filled: keys, and in the same slots the values (null = delete). */
  #keys: string[] = []
  #vals: Array<Buffer | null> = []
  /** The batch being written, null between batches. */
  #wKeys: string[] | null = null
  #wVals: Array<Buffer | null> | null = null
  /** The deferred of the batch being filled, created by the first commit() after a batch closes. */
  #next: Pending | null = null
  /**
   * key → value (null = deleted) of every operation not yet on disk, the latest winning; null
   * until a peek needs it (see the top of this file).
   */
  #overlay: Map<string, Buffer | null> | null = null
  #running: Promise<void> | null = null
  #failed: Error | null = null
  readonly #beforeBatch: (() => void) | undefined

  /**
   * @param beforeBatch - called as each batch is closed, to add operations that only the
   *   last state matters for (the store's seq counter: one put per batch, not per enqueue)
   */
  constructor (db: ClassicLevel<string, Buffer>, sync: boolean, beforeBatch?: () => void) {
    this.#db = db
    this.#sync = sync
    this.#beforeBatch = beforeBatch
  }

  /** Value of `key` pending in a batch: a Buffer, null if deleted, undefined if untouched. */
  peek (key: string): Buffer | null | undefined {
    let o = this.#overlay
    if (o === null) {
      if (this.#keys.length === 0 && this.#wKeys === null) return undefined
      o = this.#overlay = new Map()
      if (this.#wKeys !== null) addAll(o, this.#wKeys, this.#wVals!)
      addAll(o, this.#keys, this.#vals)
    }
    return o.get(key)
  }

  put (key: string, value: Buffer): void {
    this.#keys.push(key)
    this.#vals.push(value)
    this.#overlay?.set(key, value)
  }

  del (key: string): void {
    this.#keys.push(key)
    this.#vals.push(null)
    this.#overlay?.set(key, null)
  }

  /**
   * Resolves when every operation issued so far is written (durably with `sync`). Every
   * caller of one batch shares one promise.
   */
  commit (): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed)
    if (this.#keys.length === 0 && this.#running === null) return Promise.resolve()
    const next = (this.#next ??= pending())
    this.#running ??= this.#loop()
    return next.promise
  }

  /**
   * One atomic batch. A chained batch, not `db.batch(array)`: abstract-level's array form
   * copies and re-validates every operation, and measured 3.4× slower for batches of 32
   * 100-byte puts (about 100k vs 340k ops/s on the development machine).
   */
  async #write (keys: string[], vals: Array<Buffer | null>): Promise<void> {
    const b = this.#db.batch()
    try {
      for (let i = 0; i < keys.length; i++) {
        const v = vals[i]!
        if (v === null) b.del(keys[i]!)
        else b.put(keys[i]!, v)
      }
    } catch (err) {
      await b.close()
      throw err
    }
    await b.write({ sync: this.#sync })
  }

  async #loop (): Promise<void> {
    // let every operation issued in this tick join the batch
    await Promise.resolve()
    while (this.#next !== null) {
      this.#beforeBatch?.()
      const keys = this.#wKeys = this.#keys
      const vals = this.#wVals = this.#vals
      const done = this.#next
      this.#keys = []
      this.#vals = []
      this.#next = null
      try {
        if (keys.length > 0) await this.#write(keys, vals)
      } catch (err) {
        // the failed batch stays in #wKeys: reads keep seeing it, as they see later operations
        this.#failed = new LevelStoreError('STORE_LEVEL_ERR_WRITE', `LevelDB batch of ${keys.length} operations failed: ${(err as Error).message}; the store accepts no further writes`, { cause: err })
        done.reject(this.#failed)
        // commits issued while this batch was written (the assignment above narrowed the type)
        const later = this.#next as Pending | null
        later?.reject(this.#failed)
        this.#next = null
        break
      }
      this.#wKeys = null
      this.#wVals = null
      this.#overlay = null
      done.resolve()
    }
    this.#running = null
  }
}
