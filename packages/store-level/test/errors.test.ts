import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { LevelStoreError, LevelStoreErrorCodes, isLevelStoreError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), LevelStoreError.registry)
  t.same(Object.keys(LevelStoreError.registry).sort(), Object.values(LevelStoreErrorCodes).sort(), 'the registry is LevelStoreErrorCodes')
})

t.test('LevelStoreError: code, name, cause, and instanceof across installed copies', async (t) => {
  const cause = new Error('below')
  const err = new LevelStoreError('STORE_LEVEL_ERR_CLOSED', 'm', { cause })
  t.equal(err.code, 'STORE_LEVEL_ERR_CLOSED')
  t.equal(err.name, 'LevelStoreError')
  t.equal(err.cause, cause)
  t.ok(err instanceof Error)
  t.ok(isLevelStoreError(err))
  const other = Object.assign(new Error('m'), { code: 'STORE_LEVEL_ERR_CLOSED', [Symbol.for('culex.error')]: 'LevelStoreError' })
  t.ok(other instanceof LevelStoreError, 'one from another copy of the package')
  t.notOk(isLevelStoreError(Object.assign(new Error('m'), { code: 'STORE_LEVEL_ERR_CLOSED' })), 'no brand')
  t.notOk(isLevelStoreError(Object.assign(new Error('m'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'LevelStoreError' })), 'a code of no registry')
})
