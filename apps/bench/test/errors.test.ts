import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { errorClassTest } from '@culex/test-kit'
import { BenchError, BenchErrorCode, isBenchError } from '../src/errors.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), BenchError.registry)
})

errorClassTest(t, { ErrorClass: BenchError, isError: isBenchError, codes: BenchErrorCode, codesName: 'BenchErrorCode', code: BenchErrorCode.timeout })
