import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { errorClassTest } from '@culex/test-kit'
import { AedesError, AedesErrorCodes, isAedesError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), AedesError.registry)
})

errorClassTest(t, { ErrorClass: AedesError, isError: isAedesError, codes: AedesErrorCodes, codesName: 'AedesErrorCodes', code: 'AEDES_ERR_OPTION' })
