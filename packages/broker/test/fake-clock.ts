/**
 * A fake {@link Clock} for the broker option `clock`: time stands still until the test moves
 * it. Timers fire in order of due time (then of arming), each with `now()` at its own due
 * time, like Node's: a delay below 1 ms or above 2^31-1 ms runs after 1 ms (Node's
 * TimeoutOverflowWarning), so an engine that forgot to re-arm a long wait fails here too.
 *
 * `advance(ms)` is synchronous; `tick(ms)` also lets promise chains and stream callbacks run
 * before moving, after each timer, and at the end (the broker's store calls and in-memory
 * streams settle in a few event-loop turns). Skip days with advance: the keepalive sweep
 * fires every second while connections are open.
 */
import type { Clock, ClockTimer } from '../src/index.ts'

const TIMEOUT_MAX = 2 ** 31 - 1

class FakeTimer implements ClockTimer {
  at: number
  seq: number
  readonly fn: () => void
  readonly every: number

  constructor (at: number, seq: number, fn: () => void, every: number) {
    this.at = at
    this.seq = seq
    this.fn = fn
    this.every = every
  }

  unref (): this {
    return this
  }
}

function delayOf (ms: number): number {
  return ms >= 1 && ms <= TIMEOUT_MAX ? Math.trunc(ms) : 1
}

/** Let promise chains and in-memory stream callbacks run: a few event-loop turns. */
export async function settle (turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}

export class FakeClock implements Clock {
  #now: number
  #seq = 0
  #timers: FakeTimer[] = []

  /** @param start - the initial time, ms since the epoch (default 2030-01-01) */
  constructor (start = Date.UTC(2030, 0, 1)) {
    this.#now = start
  }

  now (): number {
    return this.#now
  }

  setTimeout (fn: () => void, ms: number): ClockTimer {
    return this.#arm(new FakeTimer(this.#now + delayOf(ms), this.#seq++, fn, 0))
  }

  setInterval (fn: () => void, ms: number): ClockTimer {
    const every = delayOf(ms)
    return this.#arm(new FakeTimer(this.#now + every, this.#seq++, fn, every))
  }

  clearTimeout (timer: ClockTimer): void {
    const i = this.#timers.indexOf(timer as FakeTimer)
    if (i >= 0) this.#timers.splice(i, 1)
  }

  clearInterval (timer: ClockTimer): void {
    this.clearTimeout(timer)
  }

  /** Timers armed and not yet fired or cleared. */
  get pending (): number {
    return this.#timers.length
  }

  /** Due time of the next timer (ms since the epoch), or undefined. */
  next (): number | undefined {
    return this.#timers[0]?.at
  }

  /** Move time `ms` forward, firing every timer due by then (synchronously). */
  advance (ms: number): void {
    const to = this.#now + ms
    for (let t = this.#due(to); t !== null; t = this.#due(to)) this.#fire(t)
    this.#now = to
  }

  /**
   * Like advance, and let promises and streams settle first (what is pending happens at the
   * current time), after each timer, and at the end.
   */
  async tick (ms: number): Promise<void> {
    await settle()
    const to = this.#now + ms
    for (let t = this.#due(to); t !== null; t = this.#due(to)) {
      this.#fire(t)
      await settle()
    }
    this.#now = to
    await settle()
  }

  #arm (t: FakeTimer): FakeTimer {
    // keep #timers sorted by (at, seq): insert after every timer due at or before t
    let i = this.#timers.length
    while (i > 0 && this.#timers[i - 1]!.at > t.at) i--
    this.#timers.splice(i, 0, t)
    return t
  }

  #due (to: number): FakeTimer | null {
    const t = this.#timers[0]
    return t !== undefined && t.at <= to ? t : null
  }

  #fire (t: FakeTimer): void {
    this.#timers.shift()
    this.#now = t.at
    if (t.every > 0) {
      t.at += t.every
      t.seq = this.#seq++
      this.#arm(t)
    }
    t.fn()
  }
}
