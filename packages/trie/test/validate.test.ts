import t from 'tap'
import { validateTopic, validateFilter, parseShared, isTrieError, TrieError, DEFAULT_MAX_LENGTH, DEFAULT_MAX_LEVELS } from '../src/index.ts'

const codeOf = (err: TrieError | null): string | null => err === null ? null : err.code

t.test('topic names', async t => {
  const rows: Array<[string, string | null]> = [
    ['a', null],
    ['a/b/c', null],
    ['/', null],
    ['a//b', null],
    ['$SYS/broker', null],
    ['sport/tennis player1', null],
    ['капитан/🚢', null],
    ['', 'TRIE_ERR_EMPTY'], // [MQTT-4.7.3-1]
    ['a/+', 'TRIE_ERR_WILDCARD_IN_TOPIC'], // [MQTT-3.3.2-2]
    ['a/#', 'TRIE_ERR_WILDCARD_IN_TOPIC'],
    ['a+b', 'TRIE_ERR_WILDCARD_IN_TOPIC'],
    ['a\u0000b', 'TRIE_ERR_NULL_CHARACTER'], // [MQTT-4.7.3-2]
    ['a\uD800', 'TRIE_ERR_BAD_UTF16'],
    ['a\uD800b', 'TRIE_ERR_BAD_UTF16'],
    ['a\uDC00', 'TRIE_ERR_BAD_UTF16'],
    ['a\uD800\uD800', 'TRIE_ERR_BAD_UTF16']
  ]
  for (const [topic, code] of rows) {
    const err = validateTopic(topic)
    t.equal(codeOf(err), code, JSON.stringify(topic))
    if (err !== null) {
      t.equal(err.reasonCode, 0x90, 'Topic Name invalid')
      t.ok(isTrieError(err))
    }
  }
})

t.test('topic filters', async t => {
  const rows: Array<[string, string | null]> = [
    ['#', null],
    ['+', null],
    ['+/+', null],
    ['/+', null],
    ['a/#', null],
    ['a/+/b/#', null],
    ['+/#', null],
    ['a//+', null],
    ['$SYS/#', null],
    ['$share/g/x', null],
    ['', 'TRIE_ERR_EMPTY'],
    ['a#', 'TRIE_ERR_BAD_WILDCARD'], // [MQTT-4.7.1-1]
    ['#a', 'TRIE_ERR_BAD_WILDCARD'],
    ['a/#/b', 'TRIE_ERR_BAD_WILDCARD'],
    ['#/', 'TRIE_ERR_BAD_WILDCARD'],
    ['a+', 'TRIE_ERR_BAD_WILDCARD'], // [MQTT-4.7.1-2]
    ['+a', 'TRIE_ERR_BAD_WILDCARD'],
    ['a/++', 'TRIE_ERR_BAD_WILDCARD'],
    ['sport+', 'TRIE_ERR_BAD_WILDCARD'],
    ['a\u0000', 'TRIE_ERR_NULL_CHARACTER'],
    ['\uDFFF', 'TRIE_ERR_BAD_UTF16']
  ]
  for (const [filter, code] of rows) {
    const err = validateFilter(filter)
    t.equal(codeOf(err), code, JSON.stringify(filter))
    if (err !== null) t.equal(err.reasonCode, 0x8F, 'Topic Filter invalid')
  }
})

t.test('length limit counts UTF-8 bytes', async t => {
  t.equal(DEFAULT_MAX_LENGTH, 65535)
  t.equal(validateTopic('a'.repeat(65535)), null)
  t.equal(codeOf(validateTopic('a'.repeat(65536))), 'TRIE_ERR_TOO_LONG', 'UTF-16 length alone is over')
  t.equal(validateTopic('é'.repeat(2), { maxLength: 4 }), null, '2 bytes each')
  t.equal(codeOf(validateTopic('é'.repeat(3), { maxLength: 5 })), 'TRIE_ERR_TOO_LONG', '6 bytes')
  t.equal(validateTopic('€', { maxLength: 3 }), null, '3 bytes')
  t.equal(codeOf(validateTopic('€', { maxLength: 2 })), 'TRIE_ERR_TOO_LONG')
  t.equal(validateTopic('🚢', { maxLength: 4 }), null, 'a surrogate pair is 4 bytes')
  t.equal(codeOf(validateFilter('🚢/#', { maxLength: 5 })), 'TRIE_ERR_TOO_LONG')
  const err = validateTopic('x'.repeat(100), { maxLength: 10 })
  t.match(err?.message, /expected at most 10 UTF-8 bytes/)
  t.match(err?.message, /\.\.\."/, 'long input is cut in the message')
})

t.test('level limit is checked before the character scan', async t => {
  t.equal(DEFAULT_MAX_LEVELS, 200)
  t.equal(validateTopic(Array(200).fill('a').join('/')), null)
  t.equal(codeOf(validateTopic(Array(201).fill('a').join('/'))), 'TRIE_ERR_TOO_MANY_LEVELS')
  t.equal(codeOf(validateFilter('a/b/c', { maxLevels: 2 })), 'TRIE_ERR_TOO_MANY_LEVELS')
  // a 10,000-level topic with a bad character late: the level count fails first
  t.equal(codeOf(validateTopic('/'.repeat(9_999) + '\u0000')), 'TRIE_ERR_TOO_MANY_LEVELS')
  t.equal(validateTopic('/'.repeat(9_999), { maxLevels: 10_000 }), null, 'explicitly allowed')
  t.equal(validateFilter('a/b', { maxLevels: Infinity, maxLength: Infinity }), null)
})

t.test('shared subscriptions [MQTT-4.8.2]', async t => {
  t.same(parseShared('$share/g1/fleet/+/alerts'), { group: 'g1', filter: 'fleet/+/alerts' })
  t.same(parseShared('$share/g/#'), { group: 'g', filter: '#' })
  t.same(parseShared('$share/g//'), { group: 'g', filter: '/' })
  t.same(parseShared('$share/é/a'), { group: 'é', filter: 'a' })
  t.equal(parseShared('fleet/#'), null, 'not shared')
  t.equal(parseShared('$shared/x/y'), null, 'a different $ word')
  t.equal(parseShared('$SYS/#'), null)
  const errs: Array<[string, string]> = [
    ['$share', 'TRIE_ERR_BAD_SHARE_NAME'],
    ['$share/', 'TRIE_ERR_BAD_SHARE_NAME'],
    ['$share//x', 'TRIE_ERR_BAD_SHARE_NAME'], // [MQTT-4.8.2-1]
    ['$share/g+/x', 'TRIE_ERR_BAD_SHARE_NAME'], // [MQTT-4.8.2-2]
    ['$share/#/x', 'TRIE_ERR_BAD_SHARE_NAME'],
    ['$share/a\u0000/x', 'TRIE_ERR_NULL_CHARACTER'],
    ['$share/g', 'TRIE_ERR_BAD_SHARE_FILTER'],
    ['$share/g/', 'TRIE_ERR_BAD_SHARE_FILTER'],
    ['$share/g/a/#/b', 'TRIE_ERR_BAD_WILDCARD'],
    ['$share/g/a+', 'TRIE_ERR_BAD_WILDCARD']
  ]
  for (const [filter, code] of errs) {
    const r = parseShared(filter)
    t.ok(isTrieError(r), JSON.stringify(filter))
    t.equal((r as TrieError).code, code, JSON.stringify(filter))
    t.equal((r as TrieError).reasonCode, 0x8F)
  }
  t.equal((parseShared('$share/g/a/b/c', { maxLevels: 2 }) as TrieError).code, 'TRIE_ERR_TOO_MANY_LEVELS', 'limits apply to the inner filter')
  t.same(parseShared('$share/g/a/b', { maxLevels: 2 }), { group: 'g', filter: 'a/b' })
})
