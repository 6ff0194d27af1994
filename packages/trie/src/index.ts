export { TopicTrie, type MatchCallback } from './topic-trie.ts'
export {
  validateTopic, validateFilter, parseShared, DEFAULT_MAX_LEVELS, DEFAULT_MAX_LENGTH,
  type ValidateOptions, type SharedFilter
} from './validate.ts'
export {
  TrieError, TrieErrorCodes, type TrieErrorCode, isTrieError, REASON_TOPIC_NAME_INVALID, REASON_TOPIC_FILTER_INVALID
} from './errors.ts'
export { RetainedIndex, type RetainedCallback } from './retained-index.ts'
export { matches, literalPrefix } from './matches.ts'
