import t from 'tap'
import { TrieError, TrieErrorCodes, isTrieError, validateTopic } from '../src/index.ts'

t.test('TrieError carries name, code, reasonCode and cause', async t => {
  const cause = new Error('inner')
  const err = new TrieError(TrieErrorCodes.EMPTY, 'topic name: expected at least one character, got ""', { reasonCode: 0x90, cause })
  t.equal(err.name, 'TrieError')
  t.equal(err.code, 'TRIE_ERR_EMPTY')
  t.equal(err.reasonCode, 0x90)
  t.equal(err.cause, cause)
  t.ok(err instanceof Error)
  t.ok(err instanceof TrieError)
  t.equal(new TrieError(TrieErrorCodes.TOO_LONG, 'x').reasonCode, undefined)
})

t.test('isTrieError and instanceof recognise branded errors from another copy', async t => {
  const foreign = Object.assign(Object.create({ [Symbol.for('culex.error')]: 'TrieError' }), { code: 'TRIE_ERR_EMPTY' })
  t.equal(isTrieError(foreign), true)
  t.equal(foreign instanceof TrieError, true)
  t.equal(isTrieError(new Error('x')), false)
  t.equal(isTrieError(null), false)
  t.equal(isTrieError('TRIE_ERR_EMPTY'), false)
  t.equal(new Error('x') instanceof TrieError, false)
  t.equal(Object.assign(Object.create({ [Symbol.for('culex.error')]: 'TrieError' }), { code: 'TRIE_ERR_NOPE' }) instanceof TrieError, false, 'a code of no registry')
  t.ok(isTrieError(validateTopic('')))
})

t.test('every code is TRIE_ERR_ prefixed and unique', async t => {
  const codes = Object.values(TrieErrorCodes)
  t.equal(new Set(codes).size, codes.length)
  for (const c of codes) t.match(c, /^TRIE_ERR_[A-Z0-9_]+$/)
})
