/**
 * Filter helpers for retained matching in Node: MQTT semantics come from @culex/trie.
 */
import { RetainedIndex } from '@culex/trie'

/** The topics among `topics` that match `filter`, through one RetainedIndex walk. */
export function matchAll (filter: string, topics: string[]): string[] {
  const index = new RetainedIndex<string>()
  for (const t of topics) index.set(t, t)
  return index.matchFilter(filter)
}

/**
 * The literal start every matching topic has, or null when the filter has no wildcard
 * (then it is the one topic). `a/b/+/c` → `a/b/`; `a/#` → `a` (it matches `a` itself).
 */
export function literalPrefix (filter: string): string | null {
  const levels = filter.split('/')
  const i = levels.findIndex((l) => l === '+' || l === '#')
  if (i < 0) return null
  const head = levels.slice(0, i).join('/')
  return levels[i] === '+' && i > 0 ? `${head}/` : head
}
