// A deliberately naive matcher written straight from MQTT 5.0 section 4.7, for the tests:
// split both strings on '/', walk level by level. No tries, no tricks.
export function referenceMatch (filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  for (let i = 0; i < f.length; i++) {
    // '#' matches the parent and any number of child levels [MQTT-4.7.1-2]
    if (f[i] === '#') return true
    if (i >= t.length) return false
    // '+' matches exactly one level, which may be empty
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}
