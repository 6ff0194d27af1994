/**
 * Publishers' acknowledgements waiting for room in one session's full queue (queuePolicy
 * 'block', see Connection.room).
 *
 * A message queued beyond the bound waits until it is itself within the bound again (at most
 * `maxQueuedMessages` entries ahead of it, itself included, and the queue's bytes within
 * `maxQueuedBytes`), not until the whole queue is: acknowledgements then go out one by one as
 * the subscriber drains its queue. Waiting for the whole queue held every publisher's window
 * until the subscriber had taken as many messages as all publishers had outstanding (4 × 100
 * in the overload bench: four round trips of a 100-message subscriber window with every
 * publisher idle), then released them all at once.
 *
 * Messages queued one after another share a group (one promise for up to GROUP of them), so
 * a flood costs one promise per group, not one per message. The queue keeps its bound: a
 * group is released only once its last message is within it.
 *
 * Entries leave a queue only at its front (sent, expired, dropped) and are added at its back
 * (or, on resume, at its front): the entries behind a group's last message are exactly those
 * queued after it, so its position is `queue length - (queued since)`. Entries put at the
 * front only push it back, which delays, never hastens, its release.
 */

/** Messages that share one promise. 16: see the README's flow-control numbers. */
const GROUP = 16

interface Group {
  promise: Promise<void>
  resolve: () => void
  /** The enqueue count of its last message (Connection's running count). */
  last: number
  n: number
}

function newGroup (last: number): Group {
  let done!: () => void
  const promise = new Promise<void>((resolve) => { done = resolve })
  return { promise, resolve: done, last, n: 1 }
}

export class RoomWaiters {
  /** Oldest first; `#head` is the first not yet released. */
  #groups: Group[] = []
  #head = 0

  /** Waiting groups. */
  get size (): number {
    return this.#groups.length - this.#head
  }

  /**
   * The promise for the message just queued as the `enq`-th (running count): joins the newest
   * group while that has room for it.
   */
  wait (enq: number): Promise<void> {
    const g = this.#groups
    const tail = g.length > this.#head ? g[g.length - 1]! : null
    if (tail !== null && tail.n < GROUP) {
      tail.n++
      tail.last = enq
      return tail.promise
    }
    const ng = newGroup(enq)
    g.push(ng)
    return ng.promise
  }

  /**
   * Release the groups whose last message is within the bound: `length` entries queued,
   * `enq` queued so far (running count), at most `max` allowed.
   */
  release (length: number, enq: number, max: number): void {
    const g = this.#groups
    while (this.#head < g.length) {
      const first = g[this.#head]!
      if (length - (enq - first.last) > max) break
      g[this.#head++] = undefined as unknown as Group
      first.resolve()
    }
    if (this.#head === g.length) {
      g.length = 0
      this.#head = 0
    }
  }

  /** Release every group (the queue is back within its bound, or the connection closed). */
  releaseAll (): void {
    const g = this.#groups
    const from = this.#head
    this.#groups = []
    this.#head = 0
    for (let i = from; i < g.length; i++) g[i]!.resolve()
  }
}
