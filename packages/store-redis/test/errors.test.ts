import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { RedisStoreError, RedisStoreErrorCodes, isRedisStoreError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), RedisStoreError.registry)
  t.same(Object.keys(RedisStoreError.registry).sort(), Object.values(RedisStoreErrorCodes).sort(), 'the registry is RedisStoreErrorCodes')
})

t.test('RedisStoreError: code, name, cause, and instanceof across installed copies', async (t) => {
  const cause = new Error('below')
  const err = new RedisStoreError('STORE_REDIS_ERR_CLOSED', 'm', { cause })
  t.equal(err.code, 'STORE_REDIS_ERR_CLOSED')
  t.equal(err.name, 'RedisStoreError')
  t.equal(err.cause, cause)
  t.ok(err instanceof Error)
  t.ok(isRedisStoreError(err))
  const other = Object.assign(new Error('m'), { code: 'STORE_REDIS_ERR_CLOSED', [Symbol.for('culex.error')]: 'RedisStoreError' })
  t.ok(other instanceof RedisStoreError, 'one from another copy of the package')
  t.notOk(isRedisStoreError(Object.assign(new Error('m'), { code: 'STORE_REDIS_ERR_CLOSED' })), 'no brand')
  t.notOk(isRedisStoreError(Object.assign(new Error('m'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'RedisStoreError' })), 'a code of no registry')
})
