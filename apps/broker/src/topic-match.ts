/**
 * Topic-filter relations for the ACL: does a filter match a topic, and does one filter cover
 * another (every topic the second matches, the first matches too). Plain MQTT semantics,
 * except that `$` topics are handled by the caller, as Mosquitto's ACL check does.
 */

/** Whether the filter split into `f` matches the topic split into `t` (`+` one level, `#` this level and below). */
export function levelsMatch (f: readonly string[], t: readonly string[]): boolean {
  for (let i = 0; i < f.length; i++) {
    const level = f[i] as string
    if (level === '#') return true // also matches the parent level [MQTT-4.7.1-2]
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}

/** Whether every topic the filter split into `s` matches is also matched by the one split into `a`. */
export function levelsCover (a: readonly string[], s: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const level = a[i] as string
    if (level === '#') return true
    if (i >= s.length) return false
    const sl = s[i] as string
    if (sl === '#') return false
    if (level === '+') continue
    if (sl === '+' || sl !== level) return false
  }
  return a.length === s.length
}

/** Whether some topic is matched by both filters split into `a` and `b`. */
export function levelsIntersect (a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i]
    const y = b[i]
    if (x === '#' || y === '#') return true // also the parent level
    if (x === undefined || y === undefined) return x === y
    if (x !== '+' && y !== '+' && x !== y) return false
  }
}

/** Whether `filter` matches the topic name `topic` (`+` one level, `#` this level and below). */
export function filterMatches (filter: string, topic: string): boolean {
  return levelsMatch(filter.split('/'), topic.split('/'))
}

/** Whether every topic matched by `sub` is also matched by `acl`. */
export function filterCovers (acl: string, sub: string): boolean {
  return levelsCover(acl.split('/'), sub.split('/'))
}

/** Whether `filter` is a syntactically valid topic filter (for ACL file lines). */
export function isValidFilter (filter: string): boolean {
  if (filter === '' || filter.includes('\u0000')) return false
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return false
    if (l.includes('+') && l !== '+') return false
  }
  return true
}
