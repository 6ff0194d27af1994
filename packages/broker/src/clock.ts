/**
 * The engine's one source of time. Every timer the broker arms (keepalive and connect
 * timeouts, stall detection, session expiry, will delay, `$SYS`, closing a socket that does
 * not end) and every time it reads (message expiry, `startedAt`, the memory store's expiry
 * checks) goes through a {@link Clock}: the real one by default, a fake one in tests, so
 * expiry and delays can be tested on virtual time and at their exact boundaries.
 *
 * - `now()` is milliseconds since the epoch (the store's clock: `Date.now()` by default).
 * - Every timer the engine arms must not keep the process alive; it calls `unref()` on the
 *   handle right away. A clock that has no event-loop handles may make `unref` a no-op.
 * - Delays are what the engine asks for and never above 2^31-1 ms (~24.8 days): longer waits
 *   are re-armed by the engine, as Node's timers would fire a longer delay after 1 ms.
 */

/** A handle returned by {@link Clock.setTimeout} / {@link Clock.setInterval}. */
export interface ClockTimer {
  /** Let the process exit while this timer is pending (Node's `Timeout.unref`). */
  unref (): unknown
}

/**
 * Time for the engine (broker option `clock`). Implement it to run a broker on virtual time
 * (tests, simulations); the methods are called with the clock as `this`.
 *
 * @example
 * ```ts
 * import { Broker, realClock, type Clock } from '@culex/broker'
 * // the real clock, shifted one hour ahead (e.g. to see expiry behaviour early)
 * const ahead: Clock = { ...realClock, now: () => Date.now() + 3_600_000 }
 * const broker = new Broker({ clock: ahead })
 * ```
 */
export interface Clock {
  /** Current time, ms since the epoch. */
  now (): number
  /** Call `fn` once after `ms` milliseconds. */
  setTimeout (fn: () => void, ms: number): ClockTimer
  clearTimeout (timer: ClockTimer): void
  /** Call `fn` every `ms` milliseconds until cleared. */
  setInterval (fn: () => void, ms: number): ClockTimer
  clearInterval (timer: ClockTimer): void
}

/** The real clock: `Date.now` and Node's timers. The default of the broker option `clock`. */
export const realClock: Clock = Object.freeze({
  now: Date.now,
  setTimeout: (fn: () => void, ms: number): ClockTimer => setTimeout(fn, ms),
  clearTimeout: (timer: ClockTimer): void => { clearTimeout(timer as NodeJS.Timeout) },
  setInterval: (fn: () => void, ms: number): ClockTimer => setInterval(fn, ms),
  clearInterval: (timer: ClockTimer): void => { clearInterval(timer as NodeJS.Timeout) }
})

const CLOCK_METHODS = ['now', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] as const

/** The broker option `clock`, checked: a TypeError names the missing method. */
export function resolveClock (clock: Clock | undefined): Clock {
  if (clock === undefined) return realClock
  for (const m of CLOCK_METHODS) {
    if (typeof (clock as unknown as Record<string, unknown> | null)?.[m] !== 'function') {
      throw new TypeError(`clock: expected an object with ${CLOCK_METHODS.join(', ')}; ${m} is not a function`)
    }
  }
  return clock
}
