import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { errorClassTest } from '@culex/test-kit'
import { MongoStoreError, MongoStoreErrorCodes, isMongoStoreError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), MongoStoreError.registry)
})

errorClassTest(t, { ErrorClass: MongoStoreError, isError: isMongoStoreError, codes: MongoStoreErrorCodes, codesName: 'MongoStoreErrorCodes', code: 'STORE_MONGO_ERR_CLOSED' })
