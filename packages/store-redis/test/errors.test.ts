import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { errorClassTest } from '@culex/test-kit'
import { RedisStoreError, RedisStoreErrorCodes, isRedisStoreError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), RedisStoreError.registry)
})

errorClassTest(t, { ErrorClass: RedisStoreError, isError: isRedisStoreError, codes: RedisStoreErrorCodes, codesName: 'RedisStoreErrorCodes', code: 'STORE_REDIS_ERR_CLOSED' })
