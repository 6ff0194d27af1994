import t from 'tap'
import fc from 'fast-check'
import { RetainedIndex, TopicTrie, literalPrefix, matches } from '../src/index.ts'
import { filterArb, topicArb } from './arbitraries.ts'
import { referenceMatch } from './reference.ts'

const RUNS = Number(process.env['TRIE_FC_RUNS'] ?? 2000)

t.test('matches agrees with TopicTrie.match on generated filters and topics', async (t) => {
  let hits = 0
  fc.assert(fc.property(filterArb, fc.array(topicArb, { minLength: 1, maxLength: 8 }), (filter, topics) => {
    const trie = new TopicTrie<string>()
    trie.add(filter, filter)
    for (const topic of topics) {
      const viaTrie = trie.match(topic).length === 1
      if (matches(filter, topic) !== viaTrie) return false
      if (viaTrie) hits++
    }
    return true
  }), { numRuns: RUNS })
  t.ok(hits > RUNS / 10, `the generators produce matches too (${hits})`)
})

t.test('matches agrees with the naive reference matcher and with RetainedIndex.matchFilter', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(filterArb, topicArb, (filter, topic) => {
    const index = new RetainedIndex<true>()
    index.set(topic, true)
    const m = matches(filter, topic)
    return m === referenceMatch(filter, topic) && m === (index.matchFilter(filter).length === 1)
  }), { numRuns: RUNS }), `${RUNS} generated pairs agree`)
})

t.test('matches: MQTT rules by example', async (t) => {
  const rows: Array<[string, string, boolean, string]> = [
    ['a/b', 'a/b', true, 'literal'],
    ['a/b', 'a/bc', false, 'literal prefix only'],
    ['a/bc', 'a/b', false, 'topic shorter'],
    ['a/+', 'a/b', true, '+ one level'],
    ['a/+', 'a/', true, '+ matches an empty level'],
    ['a/+', 'a', false, '+ needs a level'],
    ['a/+', 'a/b/c', false, '+ only one level'],
    ['+/+', '/', true, 'two empty levels'],
    ['+', '/a', false, 'leading empty level is a level'],
    ['a/#', 'a', true, '# matches the parent level [MQTT-4.7.1-2]'],
    ['a/#', 'a/', true, '# matches an empty child level'],
    ['a/#', 'a/b/c', true, '# every level below'],
    ['a/#', 'ab', false, 'not a sibling'],
    ['a/+/#', 'a/x', true, '+ then # matching the parent'],
    ['#', 'a/b', true, '# alone'],
    ['#', '$SYS/x', false, '# skips $ topics [MQTT-4.7.2-1]'],
    ['+/x', '$SYS/x', false, '+ skips $ topics [MQTT-4.7.2-1]'],
    ['$SYS/#', '$SYS/x', true, 'an explicit $ level matches'],
    ['$SYS/+', '$SYS/x', true, 'an explicit $ level then +'],
    ['a/$x', 'a/$x', true, '$ inside a topic is plain'],
    ['+/$x', 'a/$x', true, 'only the first character counts'],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true, 'spec example 4.7.1.2'],
    ['sport/+', 'sport', false, 'spec example 4.7.1.3'],
    ['sport/+', 'sport/', true, 'spec example 4.7.1.3']
  ]
  for (const [filter, topic, want, why] of rows) t.equal(matches(filter, topic), want, `${filter} ~ ${topic}: ${why}`)
})

t.test('literalPrefix: what a prefix scan needs', async (t) => {
  t.equal(literalPrefix('a/b'), null, 'no wildcard: the one topic')
  t.equal(literalPrefix('a/b/+/c'), 'a/b/', 'keeps the / before +')
  t.equal(literalPrefix('a/#'), 'a', '# also matches its parent: no /')
  t.equal(literalPrefix('+/x'), '')
  t.equal(literalPrefix('#'), '')
  t.equal(literalPrefix('/+'), '/')
  t.equal(literalPrefix('/#'), '')
  t.equal(literalPrefix('a+/b'), null, 'a + inside a level is not a wildcard')
  t.equal(literalPrefix('a/b#'), null)
})

t.test('literalPrefix is a prefix of every topic the filter matches', async (t) => {
  let checked = 0
  fc.assert(fc.property(filterArb, topicArb, (filter, topic) => {
    const prefix = literalPrefix(filter)
    if (!matches(filter, topic)) return true
    checked++
    return prefix === null ? topic === filter : topic.startsWith(prefix)
  }), { numRuns: RUNS })
  t.ok(checked > 0, `checked on ${checked} matching pairs`)
})
