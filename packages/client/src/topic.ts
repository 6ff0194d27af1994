/**
 * Topic name / filter validation, written on char codes. Matching a topic against a filter
 * is `matches` from @culex/trie (re-exported as `matchTopic`).
 */
const SLASH = 47
const PLUS = 43
const HASH = 35

/** Returns an error message when `topic` is not a valid topic name, else `undefined`. */
export function checkTopicName (topic: string): string | undefined {
  if (typeof topic !== 'string') return `expected a string topic, got ${typeof topic}`
  if (topic.length === 0) return 'topic name is empty'
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i)
    if (c === PLUS || c === HASH) return `topic name "${topic}" contains a wildcard at ${i} [MQTT-3.3.2-2]`
    if (c === 0) return `topic name contains U+0000 at ${i}`
  }
  return undefined
}

/** Returns an error message when `filter` is not a valid topic filter, else `undefined`. */
export function checkTopicFilter (filter: string): string | undefined {
  if (typeof filter !== 'string') return `expected a string topic filter, got ${typeof filter}`
  if (filter.length === 0) return 'topic filter is empty [MQTT-4.7.3-1]'
  const n = filter.length
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i)
    if (c === 0) return `topic filter contains U+0000 at ${i}`
    if (c === PLUS || c === HASH) {
      const alone = (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i === n - 1 || filter.charCodeAt(i + 1) === SLASH)
      if (!alone) return `wildcard "${filter[i]!}" must occupy a whole level in "${filter}" (offset ${i}) [MQTT-4.7.1-2]`
      if (c === HASH && i !== n - 1) return `"#" must be the last character of "${filter}" [MQTT-4.7.1-2]`
    }
  }
  return undefined
}

/** Strips `$share/{group}/` from a shared subscription filter. */
export function stripShare (filter: string): string {
  if (filter.startsWith('$share/')) {
    const i = filter.indexOf('/', 7)
    return i === -1 ? filter : filter.slice(i + 1)
  }
  return filter
}
