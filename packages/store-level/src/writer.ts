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

interface Waiter { resolve: () => void, reject: (err: Error) => void }

export class GroupWriter {
  readonly #db: ClassicLevel<string, Buffer>
  readonly #sync: boolean
  #ops: Op[] = []
  #waiters: Waiter[] = []
  /** key → value (null = deleted) of every operation not yet on disk; the latest wins. */
  readonly #overlay = new Map<string, Buffer | null>()
  #running: Promise<void> | null = null
  #failed: Error | null = null

  constructor (db: ClassicLevel<string, Buffer>, sync: boolean) {
    this.#db = db
    this.#sync = sync
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

  /** Resolves when every operation issued so far is written (durably with `sync`). */
  commit (): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed)
    if (this.#ops.length === 0 && this.#running === null) return Promise.resolve()
    const p = new Promise<void>((resolve, reject) => { this.#waiters.push({ resolve, reject }) })
    this.#running ??= this.#loop()
    return p
  }

  async #loop (): Promise<void> {
    // let every operation issued in this tick join the batch
    await Promise.resolve()
    while (this.#waiters.length > 0) {
      const ops = this.#ops
      const waiters = this.#waiters
      this.#ops = []
      this.#waiters = []
      try {
        if (ops.length > 0) await this.#db.batch(ops, { sync: this.#sync })
      } catch (err) {
        this.#failed = new LevelStoreError('STORE_LEVEL_ERR_WRITE', `LevelDB batch of ${ops.length} operations failed: ${(err as Error).message}; the store accepts no further writes`, { cause: err })
        for (const w of [...waiters, ...this.#waiters]) w.reject(this.#failed)
        this.#waiters = []
        break
      }
      for (const op of ops) {
        const v = op.type === 'put' ? op.value : null
        if (this.#overlay.get(op.key) === v) this.#overlay.delete(op.key)
      }
      for (const w of waiters) w.resolve()
    }
    this.#running = null
  }
}
