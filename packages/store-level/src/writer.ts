/**
 * Group commit for LevelDB. Mutations are computed synchronously against the store's
 * in-memory indexes, then handed here as put/del operations. While one batch is being
 * written (and, with `sync`, fsynced), new operations accumulate into the next batch; so
 * one fsync covers every operation issued meanwhile. Each batch is atomic and batches are
 * written strictly one after another, so a later operation on a key always wins.
 *
 * Until its batch is on disk an operation is visible to reads through `peek` (the overlay),
 * so a read issued after a write sees it even before the write's promise resolves.
 */
import type { ClassicLevel } from 'classic-level'
import { LevelStoreError } from './errors.ts'

type Op = { type: 'put', key: string, value: Buffer } | { type: 'del', key: string }

/** The batch being filled: one promise for every commit() issued while it fills. */
interface Pending { promise: Promise<void>, resolve: () => void, reject: (err: Error) => void }

function pending (): Pending {
  const d = {} as Pending
  d.promise = new Promise<void>((resolve, reject) => { d.resolve = resolve; d.reject = reject })
  return d
}

export class GroupWriter {
  readonly #db: ClassicLevel<string, Buffer>
  readonly #sync: boolean
  #ops: Op[] = []
  /** The deferred of the batch being filled, created by the first commit() after a batch closes. */
  #next: Pending | null = null
  /** key → value (null = deleted) of every operation not yet on disk; the latest wins. */
  readonly #overlay = new Map<string, Buffer | null>()
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
    return this.#overlay.get(key)
  }

  put (key: string, value: Buffer): void {
    this.#ops.push({ type: 'put', key, value })
    this.#overlay.set(key, value)
  }

  del (key: string): void {
    this.#ops.push({ type: 'del', key })
    this.#overlay.set(key, null)
  }

  /**
   * Resolves when every operation issued so far is written (durably with `sync`). Every
   * caller of one batch shares one promise.
   */
  commit (): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed)
    if (this.#ops.length === 0 && this.#running === null) return Promise.resolve()
    const next = (this.#next ??= pending())
    this.#running ??= this.#loop()
    return next.promise
  }

  /**
   * One atomic batch. A chained batch, not `db.batch(array)`: abstract-level's array form
   * copies and re-validates every operation, and measured 3.4× slower for batches of 32
   * 100-byte puts (about 100k vs 340k ops/s on the development machine).
   */
  async #write (ops: Op[]): Promise<void> {
    const b = this.#db.batch()
    try {
      for (const op of ops) {
        if (op.type === 'put') b.put(op.key, op.value)
        else b.del(op.key)
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
      const ops = this.#ops
      const done = this.#next
      this.#ops = []
      this.#next = null
      try {
        if (ops.length > 0) await this.#write(ops)
      } catch (err) {
        this.#failed = new LevelStoreError('STORE_LEVEL_ERR_WRITE', `LevelDB batch of ${ops.length} operations failed: ${(err as Error).message}; the store accepts no further writes`, { cause: err })
        done.reject(this.#failed)
        // commits issued while this batch was written (the assignment above narrowed the type)
        const later = this.#next as Pending | null
        later?.reject(this.#failed)
        this.#next = null
        break
      }
      for (const op of ops) {
        const v = op.type === 'put' ? op.value : null
        if (this.#overlay.get(op.key) === v) this.#overlay.delete(op.key)
      }
      done.resolve()
    }
    this.#running = null
  }
}
