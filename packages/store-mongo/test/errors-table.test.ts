import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { MongoStoreError, MongoStoreErrorCodes, isMongoStoreError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), MongoStoreError.registry)
  t.same(Object.keys(MongoStoreError.registry).sort(), Object.values(MongoStoreErrorCodes).sort(), 'the registry is MongoStoreErrorCodes')
})

t.test('MongoStoreError: code, name, cause, and instanceof across installed copies', async (t) => {
  const cause = new Error('below')
  const err = new MongoStoreError('STORE_MONGO_ERR_CLOSED', 'm', { cause })
  t.equal(err.code, 'STORE_MONGO_ERR_CLOSED')
  t.equal(err.name, 'MongoStoreError')
  t.equal(err.cause, cause)
  t.ok(err instanceof Error)
  t.ok(isMongoStoreError(err))
  const other = Object.assign(new Error('m'), { code: 'STORE_MONGO_ERR_CLOSED', [Symbol.for('culex.error')]: 'MongoStoreError' })
  t.ok(other instanceof MongoStoreError, 'one from another copy of the package')
  t.notOk(isMongoStoreError(Object.assign(new Error('m'), { code: 'STORE_MONGO_ERR_CLOSED' })), 'no brand')
  t.notOk(isMongoStoreError(Object.assign(new Error('m'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'MongoStoreError' })), 'a code of no registry')
})
