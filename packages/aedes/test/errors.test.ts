import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkErrorTable } from '@culex/errors/readme-table'
import { AedesError, AedesErrorCodes, isAedesError } from '../src/index.ts'

t.test('the README errors table lists exactly the registry codes', async (t) => {
  checkErrorTable(t, readFileSync(new URL('../README.md', import.meta.url), 'utf8'), AedesError.registry)
  t.same(Object.keys(AedesError.registry).sort(), Object.values(AedesErrorCodes).sort(), 'the registry is AedesErrorCodes')
})

t.test('AedesError: code, name, cause, and instanceof across installed copies', async (t) => {
  const cause = new Error('below')
  const err = new AedesError('AEDES_ERR_OPTION', 'm', { cause })
  t.equal(err.code, 'AEDES_ERR_OPTION')
  t.equal(err.name, 'AedesError')
  t.equal(err.cause, cause)
  t.ok(err instanceof Error)
  t.ok(isAedesError(err))
  const other = Object.assign(new Error('m'), { code: 'AEDES_ERR_OPTION', [Symbol.for('culex.error')]: 'AedesError' })
  t.ok(other instanceof AedesError, 'one from another copy of the package')
  t.notOk(isAedesError(Object.assign(new Error('m'), { code: 'AEDES_ERR_OPTION' })), 'no brand')
  t.notOk(isAedesError(Object.assign(new Error('m'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'AedesError' })), 'a code of no registry')
})
