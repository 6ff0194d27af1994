import t from 'tap'
import fc from 'fast-check'
import qlobber from 'qlobber'
import { TopicTrie, isTrieError } from '../src/index.ts'
import { conformance } from './fixtures/conformance.ts'
import { referenceMatch } from './reference.ts'
import { filterArb, topicArb } from './arbitraries.ts'

const sorted = <T>(xs: T[]): T[] => [...xs].sort()
// TRIE_FC_RUNS=20000 npm test -w @culex/trie fuzzes longer than the default
const RUNS = Number(process.env['TRIE_FC_RUNS'] ?? 300)

t.test('conformance table, one filter per trie', async t => {
  for (const row of conformance) {
    const trie = new TopicTrie<string>()
    trie.add(row.filter, 'v')
    t.same(trie.match(row.topic), row.match ? ['v'] : [], `${row.filter} vs ${JSON.stringify(row.topic)}${row.spec === undefined ? '' : ' (' + row.spec + ')'}`)
    t.equal(referenceMatch(row.filter, row.topic), row.match, `reference agrees: ${row.filter} vs ${row.topic}`)
  }
})

t.test('conformance table, every filter in one trie', async t => {
  const trie = new TopicTrie<string>()
  for (const row of conformance) trie.add(row.filter, row.filter)
  const topics = new Set(conformance.map(r => r.topic))
  const filters = [...new Set(conformance.map(r => r.filter))]
  for (const topic of topics) {
    t.same(sorted(trie.match(topic)), sorted(filters.filter(f => referenceMatch(f, topic))), JSON.stringify(topic))
  }
})

t.test('qlobber (as Aedes configures it) agrees on every row that is its job', async t => {
  // [MQTT-4.7.2-1] is not qlobber's job: Aedes applies it in its subscribe handler.
  for (const row of conformance) {
    if (row.dollar === true) continue
    const q = new qlobber.Qlobber<string>({ separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true })
    q.add(row.filter, 'v')
    t.same(q.match(row.topic), row.match ? ['v'] : [], `${row.filter} vs ${JSON.stringify(row.topic)}`)
  }
})

t.test('a value is kept once per filter, and reported once per matching filter', async t => {
  const trie = new TopicTrie<{ id: string }>()
  const sub = { id: 'c1' }
  t.equal(trie.add('a/+', sub), true)
  t.equal(trie.add('a/+', sub), false, 'second add of the same (filter, value) is a no-op')
  t.equal(trie.add('a/#', sub), true)
  t.equal(trie.size, 2)
  t.same(trie.match('a/b'), [sub, sub], 'once per filter')
  const seen: string[] = []
  trie.forEachMatch('a/b', (v, filter) => { seen.push(`${v.id}@${filter}`) })
  t.same(sorted(seen), ['c1@a/#', 'c1@a/+'])
  t.same(trie.match('a'), [sub], 'a/# matches the parent level')
})

t.test('values are compared with SameValueZero', async t => {
  const trie = new TopicTrie<number>()
  t.equal(trie.add('x', NaN), true)
  t.equal(trie.add('x', NaN), false)
  t.equal(trie.has('x', NaN), true)
  t.equal(trie.remove('x', NaN), true)
  t.equal(trie.size, 0)
})

t.test('many values under one filter: inline, array, then Set', async t => {
  const trie = new TopicTrie<number>()
  for (let i = 0; i < 40; i++) t.equal(trie.add('f/+', i), true)
  for (let i = 0; i < 40; i++) t.equal(trie.add('f/+', i), false)
  t.equal(trie.size, 40)
  t.equal(trie.match('f/x').length, 40)
  let calls = 0
  trie.forEachMatch('f/x', (_, filter) => { calls++; t.equal(filter, 'f/+') })
  t.equal(calls, 40, 'callback once per value of the Set')
  t.equal(trie.has('f/+', 39), true)
  t.equal(trie.has('f/+', 40), false)
  t.equal(trie.remove('f/+', 40), false, 'absent from the Set')
  for (let i = 0; i < 40; i++) t.equal(trie.remove('f/+', i), true)
  t.equal(trie.size, 0)
  t.same(trie.match('f/x'), [])

  for (let i = 0; i < 5; i++) trie.add('g', i)
  t.equal(trie.add('g', 3), false, 'already in the array')
  t.equal(trie.remove('g', 9), false, 'absent from the array')
  t.same(sorted(trie.match('g')), [0, 1, 2, 3, 4])
  for (let i = 4; i >= 1; i--) trie.remove('g', i)
  t.same(trie.match('g'), [0], 'back to one inline value')
  t.equal(trie.has('g', 0), true)
  t.equal(trie.has('g', 1), false)
  t.equal(trie.remove('g', 1), false, 'inline value differs')
  t.equal(trie.add('g', 7), true)
  t.same(sorted(trie.match('g')), [0, 7])
})

t.test('remove is a no-op when absent and prunes empty branches', async t => {
  const trie = new TopicTrie<string>()
  t.equal(trie.remove('a/b', 'x'), false)
  trie.add('a/b/c', 'x')
  t.equal(trie.remove('a/b', 'x'), false, 'inner node holds no value')
  t.equal(trie.has('a/b', 'x'), false)
  t.equal(trie.has('a/b/c/d', 'x'), false)
  t.equal(trie.remove('a/+/c', 'x'), false)
  t.equal(trie.remove('a/#', 'x'), false)
  trie.add('a/+/c', 'y')
  trie.add('a/#', 'z')
  trie.add('a/d', 'w')
  trie.add('a/e', 'w')
  t.equal(trie.size, 5)
  t.equal(trie.remove('a/b/c', 'x'), true)
  t.equal(trie.remove('a/+/c', 'y'), true)
  t.equal(trie.remove('a/#', 'z'), true)
  t.equal(trie.remove('a/d', 'w'), true)
  t.same(trie.match('a/e'), ['w'], 'sibling survives pruning (Map back to one inline child)')
  t.equal(trie.remove('a/e', 'w'), true)
  t.equal(trie.size, 0)
  t.same(trie.match('a/b/c'), [])
  trie.add('a/b', 'again')
  t.same(trie.match('a/b'), ['again'], 'works after a full prune')
})

t.test('a node keeps children after its own values go', async t => {
  const trie = new TopicTrie<string>()
  trie.add('a', '1')
  trie.add('a/b', '2')
  trie.add('a/c', '3')
  trie.add('a/d', '4')
  t.equal(trie.remove('a', '1'), true)
  t.same(trie.match('a/b'), ['2'])
  t.same(trie.match('a'), [])
  t.equal(trie.remove('a/c', '3'), true)
  t.same(trie.match('a/d'), ['4'])
})

t.test('clear empties the trie', async t => {
  const trie = new TopicTrie<string>()
  trie.add('#', 'x')
  trie.add('a', 'y')
  trie.clear()
  t.equal(trie.size, 0)
  t.same(trie.match('a'), [])
  trie.add('a', 'y')
  t.same(trie.match('a'), ['y'])
})

t.test('add rejects invalid filters with a TrieError', async t => {
  const trie = new TopicTrie<string>()
  for (const [filter, code] of [['', 'TRIE_ERR_EMPTY'], ['a/#/b', 'TRIE_ERR_BAD_WILDCARD'], ['a+', 'TRIE_ERR_BAD_WILDCARD'], ['a\u0000', 'TRIE_ERR_NULL_CHARACTER']]) {
    t.throws(() => trie.add(filter as string, 'v'), { code }, JSON.stringify(filter))
  }
  try {
    trie.add('#/a', 'v')
    t.fail('should throw')
  } catch (err) {
    t.ok(isTrieError(err))
  }
  t.equal(trie.size, 0)
})

t.test('$ topics and leading wildcards [MQTT-4.7.2-1]', async t => {
  const trie = new TopicTrie<string>()
  for (const f of ['#', '+', '+/#', '+/x', '$SYS/#', '$SYS/+', '$SYS', '$SYS/x']) trie.add(f, f)
  t.same(sorted(trie.match('$SYS/x')), ['$SYS/#', '$SYS/+', '$SYS/x'])
  t.same(sorted(trie.match('$SYS')), ['$SYS', '$SYS/#'])
  t.same(sorted(trie.match('SYS/x')), ['#', '+/#', '+/x'])
})

t.test('forEachMatch may re-enter the trie, and recovers from a throwing callback', async t => {
  const trie = new TopicTrie<string>()
  trie.add('a/+', 'outer')
  trie.add('b', 'inner')
  const seen: string[] = []
  trie.forEachMatch('a/x', (v) => {
    seen.push(v)
    trie.forEachMatch('b', (w) => { seen.push(w) })
    seen.push(...trie.match('b'))
  })
  t.same(seen, ['outer', 'inner', 'inner'])
  t.throws(() => trie.forEachMatch('a/x', () => { throw new Error('boom') }), /boom/)
  t.same(trie.match('a/x'), ['outer'], 'usable after a throw')
})

t.test('10,000-level topics and filters do not overflow the stack', async t => {
  const levels = 10_000
  const topic = Array.from({ length: levels }, (_, i) => 'l' + (i % 7)).join('/')
  const plusFilter = Array.from({ length: levels }, () => '+').join('/')
  const trie = new TopicTrie<string>()
  trie.add('#', 'all')
  trie.add(topic, 'exact')
  trie.add(plusFilter, 'plus')
  trie.add(plusFilter.slice(0, -1) + '#', 'plus-hash')
  t.same(sorted(trie.match(topic)), ['all', 'exact', 'plus', 'plus-hash'])
  t.same(sorted(trie.match(topic + '/more')), ['all', 'plus-hash'])
  t.equal(trie.remove(topic, 'exact'), true)
  t.equal(trie.remove(plusFilter, 'plus'), true)
  t.same(sorted(trie.match(topic)), ['all', 'plus-hash'])
  const wide = Array.from({ length: levels }, () => '').join('/')
  t.same(sorted(trie.match(wide)), ['all', 'plus-hash'], 'empty levels, all sliced lazily')
})

t.test('property: match agrees with the reference matcher', async t => {
  fc.assert(fc.property(fc.uniqueArray(filterArb, { maxLength: 25 }), fc.array(topicArb, { minLength: 1, maxLength: 10 }), (filters, topics) => {
    const trie = new TopicTrie<string>()
    for (const f of filters) trie.add(f, f)
    for (const topic of topics) {
      const got = sorted(trie.match(topic))
      const want = sorted(filters.filter(f => referenceMatch(f, topic)))
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${topic}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
    }
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs agreed`)
})

t.test('property: add/remove sequences agree with a model', async t => {
  const op = fc.record({ add: fc.boolean(), filter: filterArb, value: fc.integer({ min: 0, max: 3 }) })
  fc.assert(fc.property(fc.array(op, { maxLength: 60 }), fc.array(topicArb, { minLength: 1, maxLength: 6 }), (ops, topics) => {
    const trie = new TopicTrie<number>()
    const model = new Map<string, Set<number>>()
    for (const { add, filter, value } of ops) {
      const values = model.get(filter) ?? new Set()
      const had = values.has(value)
      const changed = add ? trie.add(filter, value) : trie.remove(filter, value)
      if (changed !== (add ? !had : had)) throw new Error(`${add ? 'add' : 'remove'} ${filter} ${value}: returned ${changed}`)
      if (add) values.add(value)
      else values.delete(value)
      model.set(filter, values)
    }
    let size = 0
    for (const [filter, values] of model) {
      size += values.size
      for (const v of values) if (!trie.has(filter, v)) throw new Error(`has ${filter} ${v}`)
    }
    if (trie.size !== size) throw new Error(`size ${trie.size} != ${size}`)
    for (const topic of topics) {
      const want: string[] = []
      for (const [filter, values] of model) if (referenceMatch(filter, topic)) for (const v of values) want.push(`${filter}:${v}`)
      const got: string[] = []
      trie.forEachMatch(topic, (v, filter) => { got.push(`${filter}:${v}`) })
      if (JSON.stringify(sorted(got)) !== JSON.stringify(sorted(want))) throw new Error(`${topic}: got ${got}, want ${want}`)
    }
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs agreed`)
})

t.test('more distinct level words than the interner keeps', async t => {
  const trie = new TopicTrie<number>()
  const n = 70_000
  for (let i = 0; i < n; i++) trie.add(`w${i}/x`, i)
  t.equal(trie.size, n)
  t.same(trie.match('w0/x'), [0])
  t.same(trie.match(`w${n - 1}/x`), [n - 1])
  t.equal(trie.remove('w1/x', 1), true)
  t.same(trie.match('w1/x'), [])
})

t.test('compressed literal chains split when filters diverge inside them', async t => {
  const trie = new TopicTrie<string>()
  const filters = ['a/b/c/d', 'a/b', 'a/b/x/d', 'a/b/c/d/e/f', 'a/+/c/d', 'a/b/#', 'a', 'a//c', 'a/']
  const topics = ['a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/b/x/d', 'a/b/c/d/e', 'a/b/c/d/e/f', 'a/q/c/d', 'a//c', 'a/', 'a/b/c/e']
  const check = (live: string[], when: string): void => {
    for (const topic of topics) {
      t.same(sorted(trie.match(topic)), sorted(live.filter(f => referenceMatch(f, topic))), `${when}: ${topic}`)
    }
    for (const f of filters) t.equal(trie.has(f, f), live.includes(f), `${when}: has ${f}`)
  }
  const live: string[] = []
  for (const f of filters) {
    trie.add(f, f)
    live.push(f)
    check(live, `after add ${f}`)
  }
  t.equal(trie.remove('a/b/c', 'a/b/c'), false, 'ends inside a chain: absent')
  t.equal(trie.remove('a/b/c/d/e', 'x'), false)
  for (const f of [...filters].reverse()) {
    t.equal(trie.remove(f, f), true)
    live.splice(live.indexOf(f), 1)
    check(live, `after remove ${f}`)
  }
  t.equal(trie.size, 0)
})
