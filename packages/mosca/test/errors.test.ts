import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { MoscaError, MoscaErrorCodes, isMoscaError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), MoscaError.registry)
  t.same(Object.keys(MoscaError.registry).sort(), Object.values(MoscaErrorCodes).sort(), 'the registry is MoscaErrorCodes')
})

t.test('MoscaError: code, name, cause, and instanceof across installed copies', async (t) => {
  const cause = new Error('below')
  const err = new MoscaError('MOSCA_ERR_SETTINGS', 'm', { cause })
  t.equal(err.code, 'MOSCA_ERR_SETTINGS')
  t.equal(err.name, 'MoscaError')
  t.equal(err.cause, cause)
  t.ok(err instanceof Error)
  t.ok(isMoscaError(err))
  const other = Object.assign(new Error('m'), { code: 'MOSCA_ERR_SETTINGS', [Symbol.for('culex.error')]: 'MoscaError' })
  t.ok(other instanceof MoscaError, 'one from another copy of the package')
  t.notOk(isMoscaError(Object.assign(new Error('m'), { code: 'MOSCA_ERR_SETTINGS' })), 'no brand')
  t.notOk(isMoscaError(Object.assign(new Error('m'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'MoscaError' })), 'a code of no registry')
})
