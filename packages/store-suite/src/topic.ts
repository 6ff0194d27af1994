/**
 * The reference matcher the model uses: @culex/trie's RetainedIndex answers the question for
 * one (filter, topic) pair, so the model agrees with the broker's own MQTT semantics.
 */
import { RetainedIndex } from '@culex/trie'

/** Whether `topic` matches `filter` (MQTT rules, `$` topics excluded from leading wildcards). */
export function matches (filter: string, topic: string): boolean {
  const index = new RetainedIndex<true>()
  index.set(topic, true)
  return index.matchFilter(filter).length === 1
}
