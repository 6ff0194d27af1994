import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { BenchError, BenchErrorCode, isBenchError } from '../src/errors.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), BenchError.registry)
  t.same(Object.keys(BenchError.registry).sort(), Object.values(BenchErrorCode).sort(), 'the registry is BenchErrorCode')
})

t.test('BenchError: code, name, and isBenchError by brand and code', async (t) => {
  const err = new BenchError(BenchErrorCode.timeout, 'no progress')
  t.equal(err.code, 'BENCH_ERR_TIMEOUT')
  t.equal(err.name, 'BenchError')
  t.ok(isBenchError(err))
  t.ok(isBenchError(Object.assign(new Error('m'), { code: 'BENCH_ERR_TIMEOUT', [Symbol.for('culex.error')]: 'BenchError' })), 'from another copy')
  t.notOk(isBenchError(Object.assign(new Error('m'), { code: 'BENCH_ERR_TIMEOUT' })), 'a plain Error with a bench code is not one')
  t.notOk(isBenchError('BENCH_ERR_TIMEOUT'))
})
