import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { errorClassTest } from '@culex/test-kit'
import { LevelStoreError, LevelStoreErrorCodes, isLevelStoreError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), LevelStoreError.registry)
})

errorClassTest(t, { ErrorClass: LevelStoreError, isError: isLevelStoreError, codes: LevelStoreErrorCodes, codesName: 'LevelStoreErrorCodes', code: 'STORE_LEVEL_ERR_CLOSED' })
