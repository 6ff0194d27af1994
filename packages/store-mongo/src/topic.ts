/**
 * Retained matching: MongoDB narrows by the filter's literal prefix (an anchored regex on
 * `_id`, which uses the `_id` index); @culex/trie decides the MQTT match.
 */
import { BSONRegExp } from 'mongodb'
import { RetainedIndex } from '@culex/trie'

/** The topics among `topics` that match `filter`, through one RetainedIndex walk. */
export function matchAll (filter: string, topics: string[]): string[] {
  const index = new RetainedIndex<string>()
  for (const t of topics) index.set(t, t)
  return index.matchFilter(filter)
}

/** Literal start of every matching topic, or null when the filter has no wildcard. */
export function literalPrefix (filter: string): string | null {
  const levels = filter.split('/')
  const i = levels.findIndex((l) => l === '+' || l === '#')
  if (i < 0) return null
  const head = levels.slice(0, i).join('/')
  return levels[i] === '+' && i > 0 ? `${head}/` : head
}

/**
 * An anchored regex for topics starting with `prefix`, as a BSON regex whose pattern is sent
 * verbatim. Not a JS RegExp: the driver would send its `source`, in which JS escapes U+2028 and
 * U+2029 as `\u2028`, `\u2029`, a syntax the server's PCRE rejects. Other characters go
 * literally; PCRE metacharacters are escaped with a backslash.
 */
export function prefixRegex (prefix: string): BSONRegExp {
  return new BSONRegExp('^' + prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
}
