/**
 * One filter against one topic, without a trie: the same MQTT semantics as `TopicTrie.match`
 * (`+` one level, empty levels included; `#` this level and every level below, also the
 * parent level [MQTT-4.7.1-2]; a filter starting with `+` or `#` never matches a topic
 * starting with `$` [MQTT-4.7.2-1]), on char codes: no split, no allocation.
 *
 * Both arguments are assumed valid (see `validateFilter` / `validateTopic`): the result for an
 * invalid filter or topic is unspecified, but it never throws.
 */
const SLASH = 47
const PLUS = 43
const HASH = 35
const DOLLAR = 36

/**
 * Whether the topic name `topic` matches the topic filter `filter`.
 *
 * @param filter - a valid topic filter (no `$share/{group}/` prefix: strip it first)
 * @param topic - a valid topic name
 * @returns true when a subscription to `filter` receives a PUBLISH to `topic`
 * @example
 * ```ts
 * import { matches } from '@culex/trie'
 * matches('a/+/c', 'a/b/c') // true
 * matches('a/#', 'a') // true: `#` also matches the parent level
 * matches('#', '$SYS/broker/uptime') // false: leading wildcards skip `$` topics
 * ```
 */
export function matches (filter: string, topic: string): boolean {
  const fn = filter.length
  const tn = topic.length
  if (tn > 0 && topic.charCodeAt(0) === DOLLAR && fn > 0) {
    const f0 = filter.charCodeAt(0)
    if (f0 === PLUS || f0 === HASH) return false // [MQTT-4.7.2-1]
  }
  let fi = 0
  let ti = 0
  while (fi < fn) {
    const c = filter.charCodeAt(fi)
    if (c === HASH) return true
    if (c === PLUS) {
      while (ti < tn && topic.charCodeAt(ti) !== SLASH) ti++
      fi++
    } else if (ti < tn && topic.charCodeAt(ti) === c) {
      fi++
      ti++
    } else {
      // the topic ended where the filter has `/#` left: `a/#` matches `a`
      return ti === tn && c === SLASH && fi + 2 === fn && filter.charCodeAt(fi + 1) === HASH
    }
  }
  return ti === tn
}

/**
 * The literal start every topic a wildcard filter matches has, for a store's prefix scan (a
 * key range, an anchored regex); `null` when the filter has no wildcard (then it matches the
 * one topic equal to it). The prefix stops before the first wildcard level, keeping the
 * `/` in front of a `+` (`a/b/+/c` → `a/b/`) but not the one in front of a `#`, which also
 * matches its parent level (`a/#` → `a`). A leading wildcard gives `''` (every topic).
 *
 * A scan narrows, it does not decide: run {@link matches} on what it returns.
 *
 * @param filter - a valid topic filter (no `$share/{group}/` prefix)
 * @returns the literal prefix, or `null` for a filter without wildcards
 * @example
 * ```ts
 * import { literalPrefix } from '@culex/trie'
 * literalPrefix('fleet/+/status') // 'fleet/'
 * literalPrefix('fleet/s1/#') // 'fleet/s1'
 * literalPrefix('fleet/s1') // null
 * ```
 */
export function literalPrefix (filter: string): string | null {
  const n = filter.length
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i)
    // a wildcard counts only as a whole level (a valid filter has no other kind)
    if ((c === PLUS || c === HASH) && (i === 0 || filter.charCodeAt(i - 1) === SLASH) &&
      (i + 1 === n || filter.charCodeAt(i + 1) === SLASH)) {
      if (i === 0) return ''
      return c === PLUS ? filter.slice(0, i) : filter.slice(0, i - 1)
    }
  }
  return null
}
