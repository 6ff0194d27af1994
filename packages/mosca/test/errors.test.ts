import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { errorClassTest } from '@culex/test-kit'
import { MoscaError, MoscaErrorCodes, isMoscaError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), MoscaError.registry)
})

errorClassTest(t, { ErrorClass: MoscaError, isError: isMoscaError, codes: MoscaErrorCodes, codesName: 'MoscaErrorCodes', code: 'MOSCA_ERR_SETTINGS' })
