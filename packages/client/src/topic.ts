/**
 * Topic name / filter validation and matching, written on char codes (no split on the
 * publish path). `$`-topics are not matched by filters starting with a wildcard
 * [MQTT-4.7.2-1]; `#` also matches the parent level [MQTT-4.7.1-2].
 */
const SLASH = 47
const PLUS = 43
const HASH = 35
const DOLLAR = 36

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

/** True when topic name `topic` matches topic filter `filter` (both assumed valid). */
export function matchTopic (filter: string, topic: string): boolean {
  const fn = filter.length
  const tn = topic.length
  if (tn > 0 && topic.charCodeAt(0) === DOLLAR && fn > 0) {
    const f0 = filter.charCodeAt(0)
    if (f0 === PLUS || f0 === HASH) return false
  }
  let fi = 0
  let ti = 0
  while (fi < fn) {
    const c = filter.charCodeAt(fi)
    if (c === HASH) return true
    if (c === PLUS) {
      while (ti < tn && topic.charCodeAt(ti) !== SLASH) ti++
      fi++
    } else {
      if (ti >= tn || topic.charCodeAt(ti) !== c) {
        // 'a/#' matches 'a': filter has '/#' left while the topic ended
        return ti === tn && c === SLASH && fi + 2 === fn && filter.charCodeAt(fi + 1) === HASH
      }
      fi++
      ti++
    }
  }
  return ti === tn
}
