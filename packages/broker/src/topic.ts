/**
 * Small topic helpers used off the hot path: filter matching for one (filter, topic) pair
 * and shared-subscription parsing. Routing itself goes through @culex/trie.
 */

/**
 * Whether `topic` matches `filter` under MQTT rules: `+` one level, `#` this level and all
 * below (including the parent), and leading wildcards never match `$` topics [MQTT-4.7.2-1].
 */
export function topicMatches (filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 36 /* $ */ && (filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35)) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    if (level === '#') return true
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}
