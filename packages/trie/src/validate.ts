/**
 * Validation of MQTT topic names, topic filters and `$share/{ShareName}/{filter}`.
 *
 * Validators return a {@link TrieError} or `null` and never throw, so a broker can call them
 * on every PUBLISH and SUBSCRIBE. Limits are checked first, before anything is scanned or
 * allocated: the UTF-16 length against `maxLength` (a UTF-8 encoding is never shorter),
 * then the level count against `maxLevels` (stopping at the first level over), and only
 * then the character scan. Nothing here allocates unless it returns an error.
 *
 * Not checked: the spec's "SHOULD NOT" characters (U+0001..U+001F, U+007F..U+009F,
 * noncharacters) are accepted, as MQTT 5 section 1.5.4 allows.
 */
import { REASON_TOPIC_FILTER_INVALID, REASON_TOPIC_NAME_INVALID, TrieError, TrieErrorCodes } from './errors.ts'

/** Limits for {@link validateTopic}, {@link validateFilter} and {@link parseShared}. */
export interface ValidateOptions {
  /** Maximum number of levels (`a//b` has 3). Default {@link DEFAULT_MAX_LEVELS}. */
  maxLevels?: number
  /** Maximum length in UTF-8 bytes. Default {@link DEFAULT_MAX_LENGTH}. */
  maxLength?: number
}

/** Default maximum number of levels: 200, the same as Mosquitto's topic hierarchy limit. */
export const DEFAULT_MAX_LEVELS = 200
/** Default maximum length in UTF-8 bytes: 65535, the MQTT UTF-8 string limit [MQTT-1.5.4]. */
export const DEFAULT_MAX_LENGTH = 65535

const SLASH = 47
const PLUS = 43
const HASH = 35

/** A parsed `$share/{group}/{filter}` subscription. */
export interface SharedFilter {
  /** The ShareName: non-empty, without `/`, `+` or `#`. */
  group: string
  /** The topic filter after the ShareName, already validated. */
  filter: string
}

function show (s: string): string {
  return JSON.stringify(s.length > 64 ? s.slice(0, 64) + '...' : s)
}

function check (s: string, isFilter: boolean, opts: ValidateOptions | undefined, what: string, reasonCode: number): TrieError | null {
  const maxLevels = opts?.maxLevels ?? DEFAULT_MAX_LEVELS
  const maxLength = opts?.maxLength ?? DEFAULT_MAX_LENGTH
  const len = s.length
  if (len === 0) {
    // [MQTT-4.7.3-1]
    return new TrieError(TrieErrorCodes.EMPTY, `${what}: expected at least one character, got ""`, { reasonCode })
  }
  if (len > maxLength) {
    return new TrieError(TrieErrorCodes.TOO_LONG, `${what}: expected at most ${maxLength} UTF-8 bytes, got at least ${len} in ${show(s)}`, { reasonCode })
  }
  // Level count before any other work: stop at the first level over the limit.
  let levels = 1
  let p = s.indexOf('/')
  while (p !== -1) {
    if (++levels > maxLevels) {
      return new TrieError(TrieErrorCodes.TOO_MANY_LEVELS, `${what}: expected at most ${maxLevels} levels, got more (offset ${p}) in ${show(s)}`, { reasonCode })
    }
    p = s.indexOf('/', p + 1)
  }
  let bytes = 0
  let levelStart = 0
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      bytes++
      if (c === SLASH) {
        levelStart = i + 1
      } else if (c === PLUS || c === HASH) {
        if (!isFilter) {
          // [MQTT-3.3.2-2]
          return new TrieError(TrieErrorCodes.WILDCARD_IN_TOPIC, `${what}: expected no wildcard, got ${c === PLUS ? '"+"' : '"#"'} at offset ${i} in ${show(s)}`, { reasonCode })
        }
        // [MQTT-4.7.1-1] [MQTT-4.7.1-2] a wildcard fills its whole level; '#' is also the last level
        const next = i + 1 < len ? s.charCodeAt(i + 1) : SLASH
        if (i !== levelStart || next !== SLASH || (c === HASH && i + 1 !== len)) {
          const rule = c === HASH ? '"#" alone in the last level' : '"+" alone in its level'
          return new TrieError(TrieErrorCodes.BAD_WILDCARD, `${what}: expected ${rule}, got offset ${i} in ${show(s)}`, { reasonCode })
        }
      } else if (c === 0) {
        // [MQTT-4.7.3-2]
        return new TrieError(TrieErrorCodes.NULL_CHARACTER, `${what}: expected no U+0000, got one at offset ${i} in ${show(s)}`, { reasonCode })
      }
    } else if (c < 0x800) {
      bytes += 2
    } else if (c < 0xD800 || c > 0xDFFF) {
      bytes += 3
    } else {
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0
      if (c > 0xDBFF || d < 0xDC00 || d > 0xDFFF) {
        // [MQTT-1.5.4-1] ill-formed UTF-16 has no UTF-8 encoding
        return new TrieError(TrieErrorCodes.BAD_UTF16, `${what}: expected well-formed UTF-16, got a lone surrogate at offset ${i} in ${show(s)}`, { reasonCode })
      }
      bytes += 4
      i++
    }
  }
  if (bytes > maxLength) {
    return new TrieError(TrieErrorCodes.TOO_LONG, `${what}: expected at most ${maxLength} UTF-8 bytes, got ${bytes} in ${show(s)}`, { reasonCode })
  }
  return null
}

/**
 * Checks a PUBLISH topic name: non-empty [MQTT-4.7.3-1], no `+`/`#` [MQTT-3.3.2-2], no U+0000
 * [MQTT-4.7.3-2], well-formed UTF-16, at most `maxLength` UTF-8 bytes and `maxLevels` levels.
 *
 * @param topic - the topic name
 * @param opts - `maxLevels` (default 200), `maxLength` in UTF-8 bytes (default 65535)
 * @returns `null` when valid, otherwise a {@link TrieError} with `reasonCode` 0x90; never throws
 * @example
 * ```ts
 * validateTopic('fleet/s1/d1/telemetry') // null
 * validateTopic('fleet/+')?.code // 'TRIE_ERR_WILDCARD_IN_TOPIC'
 * ```
 */
export function validateTopic (topic: string, opts?: ValidateOptions): TrieError | null {
  return check(topic, false, opts, 'topic name', REASON_TOPIC_NAME_INVALID)
}

/**
 * Checks a SUBSCRIBE/UNSUBSCRIBE topic filter: non-empty, `+` fills a whole level, `#` fills
 * the last level [MQTT-4.7.1-1] [MQTT-4.7.1-2], no U+0000, well-formed UTF-16, limits.
 * A `$share/...` filter is checked as a plain filter here: call {@link parseShared} first.
 *
 * @param filter - the topic filter
 * @param opts - `maxLevels` (default 200), `maxLength` in UTF-8 bytes (default 65535)
 * @returns `null` when valid, otherwise a {@link TrieError} with `reasonCode` 0x8F; never throws
 * @example
 * ```ts
 * validateFilter('fleet/+/+/alerts') // null
 * validateFilter('fleet/#/x')?.code // 'TRIE_ERR_BAD_WILDCARD'
 * ```
 */
export function validateFilter (filter: string, opts?: ValidateOptions): TrieError | null {
  return check(filter, true, opts, 'topic filter', REASON_TOPIC_FILTER_INVALID)
}

/**
 * Parses a shared subscription `$share/{ShareName}/{filter}` [MQTT-4.8.2].
 *
 * Rules: the ShareName is at least one character [MQTT-4.8.2-1], contains no `/`, `+` or `#`
 * [MQTT-4.8.2-2], and is followed by `/` and a valid topic filter. `maxLevels` and
 * `maxLength` apply to the inner filter.
 *
 * @param filter - a SUBSCRIBE topic filter
 * @param opts - limits for the inner filter, as in {@link validateFilter}
 * @returns `null` when `filter` is not a shared subscription (does not start with `$share/`
 *   and is not `$share`), a {@link SharedFilter} when it is a valid one, or a
 *   {@link TrieError} (`reasonCode` 0x8F) when it is a malformed one; never throws
 * @example
 * ```ts
 * parseShared('$share/g1/fleet/+/alerts') // { group: 'g1', filter: 'fleet/+/alerts' }
 * parseShared('fleet/#') // null
 * parseShared('$share//x')?.code // 'TRIE_ERR_BAD_SHARE_NAME'
 * ```
 */
export function parseShared (filter: string, opts?: ValidateOptions): SharedFilter | TrieError | null {
  if (!filter.startsWith('$share') || (filter.length > 6 && filter.charCodeAt(6) !== SLASH)) return null
  const reasonCode = REASON_TOPIC_FILTER_INVALID
  const end = filter.indexOf('/', 7)
  const group = end === -1 ? filter.slice(7) : filter.slice(7, end)
  if (group.length === 0) {
    // [MQTT-4.8.2-1]
    return new TrieError(TrieErrorCodes.BAD_SHARE_NAME, `shared subscription: expected a ShareName after "$share/", got none in ${show(filter)}`, { reasonCode })
  }
  for (let i = 0; i < group.length; i++) {
    const c = group.charCodeAt(i)
    if (c === PLUS || c === HASH) {
      // [MQTT-4.8.2-2]
      return new TrieError(TrieErrorCodes.BAD_SHARE_NAME, `shared subscription: expected a ShareName without "+" or "#", got ${show(group)} in ${show(filter)}`, { reasonCode })
    }
  }
  const groupErr = check(group, false, undefined, 'shared subscription ShareName', reasonCode)
  if (groupErr !== null) return groupErr
  if (end === -1 || end === filter.length - 1) {
    return new TrieError(TrieErrorCodes.BAD_SHARE_FILTER, `shared subscription: expected a topic filter after "$share/${group}/", got none in ${show(filter)}`, { reasonCode })
  }
  const inner = filter.slice(end + 1)
  const err = check(inner, true, opts, 'shared subscription topic filter', reasonCode)
  return err === null ? { group, filter: inner } : err
}
