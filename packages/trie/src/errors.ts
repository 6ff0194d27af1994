/**
 * Errors raised or returned by `@culex/trie`.
 *
 * Every failure has a stable `TRIE_ERR_*` code (public API: codes are deprecated, never
 * renamed) and, where MQTT 5 defines one, the `reasonCode` a broker should answer with:
 * 0x90 (Topic Name invalid) for topic names, 0x8F (Topic Filter invalid) for filters and
 * shared-subscription filters. Validators return these errors instead of throwing, so the
 * broker's hot path never pays for an exception; the mutating methods (`add`, `set`, ...)
 * throw them.
 */
import { defineErrors, registryOf } from '@culex/errors'

/** Every error code this package can produce. */
export const TrieErrorCodes = {
  /** A topic name or filter is the empty string [MQTT-4.7.3-1]. */
  EMPTY: 'TRIE_ERR_EMPTY',
  /** Longer than `maxLength` UTF-8 bytes (default 65535, the MQTT string limit). */
  TOO_LONG: 'TRIE_ERR_TOO_LONG',
  /** More levels than `maxLevels`. Checked before any other work. */
  TOO_MANY_LEVELS: 'TRIE_ERR_TOO_MANY_LEVELS',
  /** Contains U+0000 [MQTT-4.7.3-2]. */
  NULL_CHARACTER: 'TRIE_ERR_NULL_CHARACTER',
  /** Contains a lone UTF-16 surrogate, so it has no UTF-8 encoding [MQTT-1.5.4-1]. */
  BAD_UTF16: 'TRIE_ERR_BAD_UTF16',
  /** A topic name contains `+` or `#` [MQTT-3.3.2-2]. */
  WILDCARD_IN_TOPIC: 'TRIE_ERR_WILDCARD_IN_TOPIC',
  /** `+` or `#` does not fill a whole level, or `#` is not the last level [MQTT-4.7.1-1] [MQTT-4.7.1-2]. */
  BAD_WILDCARD: 'TRIE_ERR_BAD_WILDCARD',
  /** A `$share/` filter has an empty ShareName or one containing `+` or `#` [MQTT-4.8.2-1] [MQTT-4.8.2-2]. */
  BAD_SHARE_NAME: 'TRIE_ERR_BAD_SHARE_NAME',
  /** A `$share/{ShareName}` filter has no topic filter after the ShareName [MQTT-4.8.2-1]. */
  BAD_SHARE_FILTER: 'TRIE_ERR_BAD_SHARE_FILTER'
} as const

/** Union of the `TRIE_ERR_*` string codes. */
export type TrieErrorCode = typeof TrieErrorCodes[keyof typeof TrieErrorCodes]

/** MQTT 5 reason code 0x90: Topic Name invalid. */
export const REASON_TOPIC_NAME_INVALID = 0x90
/** MQTT 5 reason code 0x8F: Topic Filter invalid. */
export const REASON_TOPIC_FILTER_INVALID = 0x8F

/**
 * The one error class of `@culex/trie`. Check `code`, not the message text. `instanceof`
 * also holds for a `TrieError` of another installed copy of this package.
 *
 * @example
 * ```ts
 * import { validateTopic } from '@culex/trie'
 * const err = validateTopic('a/+')
 * if (err !== null) console.log(err.code, err.reasonCode) // TRIE_ERR_WILDCARD_IN_TOPIC 144
 * ```
 */
export class TrieError extends defineErrors('TrieError', registryOf(Object.values(TrieErrorCodes))) {}

/**
 * True when `value` is a {@link TrieError} from any installed copy of `@culex/trie`.
 *
 * @param value - anything caught or returned
 * @returns whether `value` is a `TrieError`
 */
export function isTrieError (value: unknown): value is TrieError {
  return value instanceof TrieError
}
