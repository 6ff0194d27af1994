import t from 'tap'
import fc from 'fast-check'
import { RetainedIndex, TopicTrie, validateTopic } from '../src/index.ts'
import { conformance } from './fixtures/conformance.ts'
import { referenceMatch } from './reference.ts'
import { filterArb, topicArb } from './arbitraries.ts'

const sorted = <T>(xs: T[]): T[] => [...xs].sort()
// TRIE_FC_RUNS=20000 npm test -w @culex/trie fuzzes longer than the default
const RUNS = Number(process.env['TRIE_FC_RUNS'] ?? 300)

t.test('set, get, has, delete, size, clear', async t => {
  const r = new RetainedIndex<string>()
  r.set('a/b', '1')
  r.set('a/b', '2')
  t.equal(r.size, 1, 'set replaces')
  t.equal(r.get('a/b'), '2')
  t.equal(r.has('a/b'), true)
  t.equal(r.get('a'), undefined, 'inner node holds no value')
  t.equal(r.has('a'), false)
  t.equal(r.get('a/b/c'), undefined)
  t.equal(r.delete('a'), false)
  t.equal(r.delete('x/y'), false)
  r.set('a', 'parent')
  r.set('a/c', '3')
  r.set('a/d', '4')
  t.equal(r.size, 4)
  t.equal(r.delete('a'), true)
  t.equal(r.get('a/b'), '2', 'children survive the parent')
  t.equal(r.delete('a/b'), true)
  t.equal(r.delete('a/c'), true)
  t.equal(r.get('a/d'), '4', 'Map back to one inline child')
  t.equal(r.delete('a/d'), true)
  t.equal(r.size, 0)
  t.same(r.matchFilter('#'), [], 'fully pruned')
  r.set('z', 'z')
  r.clear()
  t.equal(r.size, 0)
  t.equal(r.get('z'), undefined)
})

t.test('set and matchFilter reject invalid input', async t => {
  const r = new RetainedIndex<string>()
  t.throws(() => r.set('a/+', 'x'), { code: 'TRIE_ERR_WILDCARD_IN_TOPIC' })
  t.throws(() => r.set('', 'x'), { code: 'TRIE_ERR_EMPTY' })
  t.throws(() => r.matchFilter('a/#/b'), { code: 'TRIE_ERR_BAD_WILDCARD' })
  t.equal(r.size, 0)
})

t.test('conformance table: every topic stored, each filter walked', async t => {
  const r = new RetainedIndex<string>()
  const topics = [...new Set(conformance.map(row => row.topic))].filter(topic => validateTopic(topic) === null)
  for (const topic of topics) r.set(topic, topic)
  for (const row of conformance) {
    if (validateTopic(row.topic) !== null) continue
    t.equal(r.matchFilter(row.filter).includes(row.topic), row.match, `${row.filter} vs ${JSON.stringify(row.topic)}`)
  }
  for (const filter of new Set(conformance.map(row => row.filter))) {
    t.same(sorted(r.matchFilter(filter)), sorted(topics.filter(topic => referenceMatch(filter, topic))), filter)
  }
})

t.test('$ topics and leading wildcards [MQTT-4.7.2-1]', async t => {
  const r = new RetainedIndex<string>()
  for (const topic of ['$SYS', '$SYS/x', 'SYS/x', '$x']) r.set(topic, topic)
  t.same(sorted(r.matchFilter('#')), ['SYS/x'])
  t.same(sorted(r.matchFilter('+/x')), ['SYS/x'])
  t.same(sorted(r.matchFilter('+')), [])
  t.same(sorted(r.matchFilter('$SYS/#')), ['$SYS', '$SYS/x'])
  t.same(sorted(r.matchFilter('$x')), ['$x'])
  const only = new RetainedIndex<string>()
  only.set('$only/a', 'v')
  t.same(only.matchFilter('#'), [], 'single inline $ child skipped')
  t.same(only.matchFilter('+/a'), [])
  t.same(only.matchFilter('$only/+'), ['v'])
})

t.test('forEachMatch reports the stored topic', async t => {
  const r = new RetainedIndex<number>()
  r.set('fleet/s1/d1/status', 1)
  r.set('fleet/s1/d2/status', 2)
  r.set('fleet/s2/d1/status', 3)
  const seen: string[] = []
  r.forEachMatch('fleet/+/d1/#', (v, topic) => { seen.push(`${topic}=${v}`) })
  t.same(sorted(seen), ['fleet/s1/d1/status=1', 'fleet/s2/d1/status=3'])
})

t.test('10,000-level topics are stored and walked without recursion', async t => {
  const r = new RetainedIndex<string>()
  const deep = Array.from({ length: 10_000 }, (_, i) => String(i % 3)).join('/')
  r.set(deep, 'deep')
  r.set('0/x', 'shallow')
  t.same(sorted(r.matchFilter('#')), ['deep', 'shallow'])
  t.same(r.matchFilter(deep), ['deep'])
  t.same(r.matchFilter(deep.replace(/[0-9]+/g, '+')), ['deep'])
  t.equal(r.delete(deep), true)
  t.same(r.matchFilter('#'), ['shallow'])
})

t.test('property: the filter walk returns exactly what a full scan returns', async t => {
  fc.assert(fc.property(fc.uniqueArray(topicArb, { maxLength: 30 }), fc.array(filterArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (topics, filters, deletions) => {
    const r = new RetainedIndex<string>()
    const model = new Map<string, string>()
    for (const topic of topics) {
      r.set(topic, topic)
      model.set(topic, topic)
    }
    for (const d of deletions) {
      if (topics.length === 0) break
      const topic = topics[d % topics.length] as string
      if (r.delete(topic) !== model.delete(topic)) throw new Error(`delete ${topic}`)
    }
    if (r.size !== model.size) throw new Error(`size ${r.size} != ${model.size}`)
    for (const filter of filters) {
      const got = sorted(r.matchFilter(filter))
      const want = sorted([...model.keys()].filter(topic => referenceMatch(filter, topic)))
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${filter}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
    }
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs agreed`)
})

t.test('property: the retained walk and the subscription trie agree', async t => {
  fc.assert(fc.property(fc.uniqueArray(topicArb, { minLength: 1, maxLength: 20 }), filterArb, (topics, filter) => {
    const r = new RetainedIndex<string>()
    for (const topic of topics) r.set(topic, topic)
    const trie = new TopicTrie<string>()
    trie.add(filter, filter)
    const viaTrie = sorted(topics.filter(topic => trie.match(topic).length === 1))
    if (JSON.stringify(sorted(r.matchFilter(filter))) !== JSON.stringify(viaTrie)) throw new Error(filter)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs agreed`)
})
