/**
 * Hooks that survive a reload: the engine keeps the functions it was given, so each one
 * calls the current version built from the files. Only hooks present at start are installed
 * (a broker without an ACL file keeps the engine's hook-free fast path); a hook that a later
 * version lacks allows, as an absent hook does.
 */
import type { BrokerOptions } from '@culex/broker'

type Hooks = Pick<BrokerOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeRead' | 'authorizeReadFilter' | 'authorizeForward'>
type AnyHook = (...args: unknown[]) => unknown

/**
 * @param initial - the hooks at start (which ones exist)
 * @param current - returns the hooks in force now
 */
export function reloadableHooks<H extends Hooks> (initial: H, current: () => H): H {
  const out: Record<string, AnyHook> = {}
  for (const key of Object.keys(initial)) {
    const k = key as keyof H
    out[key] = (...args: unknown[]) => {
      const fn = current()[k] as AnyHook | undefined
      if (fn !== undefined) return fn(...args)
      return k === 'authorizeForward' ? args[1] : true
    }
  }
  return out as H
}
