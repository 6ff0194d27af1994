/**
 * `RetainedIndex<T>`: exact topic names → values (retained messages), with a filter walk
 * that visits only the branches a filter can match.
 *
 * Invariants:
 * - One node per topic level; a node holds a value when a topic ends there. Empty branches
 *   are pruned on delete, so memory follows the live topics.
 * - `forEachMatch(filter)` walks with an explicit stack, never recursion, so topics and
 *   filters of any depth are safe. A literal level costs one lookup; `+` visits the children
 *   of that level; `#` visits the subtree. Nothing outside the matching branches is read.
 * - Topics starting with `$` are not matched by a filter whose first level is `+` or `#`
 *   [MQTT-4.7.2-1].
 */
import { Interner, deleteChild, getChild, hasChildren, setChild } from './node-children.ts'
import { validateFilter, validateTopic } from './validate.ts'

const DOLLAR = 36
const NO_LIMITS = { maxLevels: Infinity, maxLength: Infinity }
// a stack entry with this depth means "emit this node's whole subtree" (under a '#')
const SUBTREE = -1

class RetainedNode<T> {
  k0: string | null = null
  c0: RetainedNode<T> | null = null
  map: Map<string, RetainedNode<T>> | null = null
  topic: string | null = null
  value: T | undefined = undefined
}

/** Callback of {@link RetainedIndex.forEachMatch}: one call per stored topic that matches. */
export type RetainedCallback<T> = (value: T, topic: string) => void

/**
 * Values stored by exact topic name (retained messages), searchable by topic filter.
 *
 * @typeParam T - the stored value, typically the retained PUBLISH
 * @example
 * ```ts
 * const retained = new RetainedIndex<string>()
 * retained.set('fleet/s1/d1/status', 'online')
 * retained.set('fleet/s2/d9/status', 'offline')
 * retained.matchFilter('fleet/+/d1/#') // ['online']
 * ```
 */
export class RetainedIndex<T> {
  #root = new RetainedNode<T>()
  #size = 0
  #interner = new Interner()

  /** Number of stored topics. */
  get size (): number {
    return this.#size
  }

  /**
   * Stores `value` under the exact `topic`, replacing any previous value.
   *
   * @param topic - a topic name (checked for wildcards, emptiness, U+0000 and UTF-16
   *   well-formedness, without length or level limits: apply those with `validateTopic`)
   * @param value - the value to keep
   * @throws {@link TrieError} `TRIE_ERR_EMPTY`, `TRIE_ERR_WILDCARD_IN_TOPIC`,
   *   `TRIE_ERR_NULL_CHARACTER` or `TRIE_ERR_BAD_UTF16` for an invalid topic
   */
  set (topic: string, value: T): void {
    const err = validateTopic(topic, NO_LIMITS)
    if (err !== null) throw err
    let node = this.#root
    let start = 0
    for (;;) {
      const end = topic.indexOf('/', start)
      const word = end === -1 ? topic.slice(start) : topic.slice(start, end)
      let next = getChild(node, word)
      if (next === undefined) {
        next = new RetainedNode<T>()
        setChild(node, this.#interner.intern(word), next)
      }
      node = next
      if (end === -1) break
      start = end + 1
    }
    if (node.topic === null) {
      node.topic = topic
      this.#size++
    }
    node.value = value
  }

  /**
   * The value stored under exactly `topic`.
   *
   * @param topic - a topic name, compared literally
   * @returns the value, or `undefined` when none is stored
   */
  get (topic: string): T | undefined {
    const path = this.#path(topic)
    return path === null ? undefined : (path[path.length - 1] as RetainedNode<T>).value
  }

  /**
   * Whether a value is stored under exactly `topic`.
   *
   * @param topic - a topic name, compared literally
   * @returns `true` when present
   */
  has (topic: string): boolean {
    return this.#path(topic) !== null
  }

  /**
   * Removes the value stored under `topic`; a no-op when absent. Empty branches are pruned.
   *
   * @param topic - a topic name, compared literally
   * @returns `true` if a value was removed
   */
  delete (topic: string): boolean {
    const path = this.#path(topic)
    if (path === null) return false
    const node = path[path.length - 1] as RetainedNode<T>
    node.topic = null
    node.value = undefined
    this.#size--
    const words = topic.split('/')
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i] as RetainedNode<T>
      if (n.topic !== null || hasChildren(n)) break
      deleteChild(path[i - 1] as RetainedNode<T>, words[i - 1] as string)
    }
    return true
  }

  /** Removes every stored topic. */
  clear (): void {
    this.#root = new RetainedNode<T>()
    this.#size = 0
  }

  /**
   * Every stored value whose topic matches `filter`, in unspecified order.
   *
   * @param filter - an MQTT topic filter (a `$share/...` filter must be stripped with
   *   `parseShared` first)
   * @returns the matching values
   * @throws {@link TrieError} for an invalid filter, as {@link RetainedIndex.forEachMatch}
   */
  matchFilter (filter: string): T[] {
    const out: T[] = []
    this.forEachMatch(filter, (v) => { out.push(v) })
    return out
  }

  /**
   * Calls `fn(value, topic)` for every stored topic matching `filter`, visiting only the
   * matching branches. Order is unspecified. `fn` must not `set` or `delete` during the walk.
   *
   * @param filter - an MQTT topic filter
   * @param fn - called once per matching stored topic
   * @throws {@link TrieError} `TRIE_ERR_EMPTY`, `TRIE_ERR_BAD_WILDCARD`,
   *   `TRIE_ERR_NULL_CHARACTER` or `TRIE_ERR_BAD_UTF16` for an invalid filter
   */
  forEachMatch (filter: string, fn: RetainedCallback<T>): void {
    const err = validateFilter(filter, NO_LIMITS)
    if (err !== null) throw err
    const words = filter.split('/')
    const n = words.length
    const nodes: Array<RetainedNode<T>> = [this.#root]
    const depths: number[] = [0]
    let sp = 1
    while (sp > 0) {
      sp--
      const node = nodes[sp] as RetainedNode<T>
      const i = depths[sp] as number
      if (i === SUBTREE || i === n) {
        if (node.topic !== null) fn(node.value as T, node.topic)
        if (i === n) continue
      }
      const word = i === SUBTREE ? '#' : words[i] as string
      if (word === '+' || word === '#') {
        // '#' also matches the parent level: the node itself (not the root, which is no topic)
        if (word === '#' && i > 0 && node.topic !== null) fn(node.value as T, node.topic)
        const next = word === '#' ? SUBTREE : i + 1
        // [MQTT-4.7.2-1] a leading wildcard skips topics starting with '$'
        const skipDollar = i === 0
        if (node.map !== null) {
          for (const [key, child] of node.map) {
            if (skipDollar && key.charCodeAt(0) === DOLLAR) continue
            nodes[sp] = child
            depths[sp] = next
            sp++
          }
        } else if (node.k0 !== null && !(skipDollar && node.k0.charCodeAt(0) === DOLLAR)) {
          nodes[sp] = node.c0 as RetainedNode<T>
          depths[sp] = next
          sp++
        }
      } else {
        const child = getChild(node, word)
        if (child !== undefined) {
          nodes[sp] = child
          depths[sp] = i + 1
          sp++
        }
      }
    }
  }

  // root..topic's node when a value is stored under exactly `topic`, else null
  #path (topic: string): Array<RetainedNode<T>> | null {
    let node = this.#root
    const path = [node]
    let start = 0
    for (;;) {
      const end = topic.indexOf('/', start)
      const next = getChild(node, end === -1 ? topic.slice(start) : topic.slice(start, end))
      if (next === undefined) return null
      node = next
      path.push(node)
      if (end === -1) return node.topic === null ? null : path
      start = end + 1
    }
  }
}
