/**
 * Retained matching: MongoDB narrows by the filter's literal prefix (`literalPrefix` of
 * @culex/trie, as an anchored regex on `_id`, which uses the `_id` index); `matches` of
 * @culex/trie decides the MQTT match.
 */
import { BSONRegExp } from 'mongodb'

/**
 * An anchored regex for topics starting with `prefix`, as a BSON regex whose pattern is sent
 * verbatim. Not a JS RegExp: the driver would send its `source`, in which JS escapes U+2028 and
 * U+2029 as `\u2028`, `\u2029`, a syntax the server's PCRE rejects. Other characters go
 * literally; PCRE metacharacters are escaped with a backslash.
 */
export function prefixRegex (prefix: string): BSONRegExp {
  return new BSONRegExp('^' + prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
}
