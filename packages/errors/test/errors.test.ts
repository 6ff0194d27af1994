import t from 'tap'
import { ERROR_BRAND, defineErrors, isCulexError, registryFrom, registryOf } from '../src/index.ts'
import { checkErrorTable, readErrorTable } from '../src/readme-table.ts'

const registry = registryFrom({ X_ERR_ONE: 0x81, X_ERR_TWO: undefined })
class XError extends defineErrors('XError', registry) {}

t.test('an error has its code, the registry reason code unless overridden, its cause and name', async (t) => {
  const cause = new Error('below')
  const err = new XError('X_ERR_ONE', 'expected 1, got 2', { cause })
  t.equal(err.code, 'X_ERR_ONE')
  t.equal(err.reasonCode, 0x81)
  t.equal(err.message, 'expected 1, got 2')
  t.equal(err.name, 'XError')
  t.equal(err.cause, cause)
  t.equal(XError.name, 'XError')
  t.equal(new XError('X_ERR_ONE', 'm', { reasonCode: 0x99 }).reasonCode, 0x99)
  t.equal(new XError('X_ERR_TWO', 'm').reasonCode, undefined)
  t.notOk(Object.hasOwn(new XError('X_ERR_TWO', 'm'), 'cause'), 'no cause key without a cause')
  t.ok(err instanceof Error)
  t.ok(err.stack?.includes('XError'))
  t.equal((err as unknown as Record<symbol, unknown>)[Symbol.for('culex.error')], 'XError', 'the brand is Symbol.for("culex.error") with the class name')
  t.equal(ERROR_BRAND, Symbol.for('culex.error'))
})

t.test('instanceof works across two copies of the module, by brand name and registry code', async (t) => {
  // a second evaluation of the same source: another class object, as with two installed copies
  const copy = await import(new URL('../src/index.ts?copy=2', import.meta.url).href) as typeof import('../src/index.ts')
  t.not(copy.defineErrors, defineErrors, 'really a second copy')
  class XError2 extends copy.defineErrors('XError', copy.registryFrom({ X_ERR_ONE: 0x81, X_ERR_TWO: undefined })) {}
  class YError extends defineErrors('YError', registryOf(['Y_ERR_ONE'])) {}
  const fromCopy = new XError2('X_ERR_TWO', 'm')
  t.ok(fromCopy instanceof XError, 'an XError of the other copy is an XError')
  t.ok(new XError('X_ERR_ONE', 'm') instanceof XError2)
  t.notOk(new YError('Y_ERR_ONE', 'm') instanceof XError, 'another class name is not')
  const foreign = Object.assign(new Error('m'), { code: 'X_ERR_THREE', [Symbol.for('culex.error')]: 'XError' })
  t.notOk(foreign instanceof XError, 'a code outside the registry is not')
  t.notOk(new Error('m') instanceof XError)
  t.notOk((null as unknown as object) instanceof XError)
  t.notOk(('X_ERR_ONE' as unknown as object) instanceof XError)
  t.ok(isCulexError(fromCopy))
  t.ok(isCulexError(fromCopy, 'XError'))
  t.notOk(isCulexError(fromCopy, 'YError'))
  t.notOk(isCulexError({ [Symbol.for('culex.error')]: 'XError' }), 'a brand without a code is not')
  t.notOk(isCulexError(undefined))
})

t.test('registries: from a reason-code table and from a code list', async (t) => {
  t.same(registryFrom({ A: 0x80, B: undefined, C: 'C' }), { A: { reasonCode: 0x80 }, B: {}, C: {} })
  t.same(registryOf(['A', 'B']), { A: {}, B: {} })
  t.equal(XError.registry, registry)
})

const readme = `# x

## Errors

| code | when | reasonCode |
|---|---|---|
| \`X_ERR_ONE\` | a \\| b | 0x81 |
| \`X_ERR_TWO\` | never | — |

## Performance

| \`X_ERR_THREE\` | not in the errors section | — |
`

t.test('the README table check passes on an agreeing table', async (t) => {
  t.same(readErrorTable(readme), new Map([['X_ERR_ONE', ['a \\| b', '0x81']], ['X_ERR_TWO', ['never', '—']]]))
  checkErrorTable(t, readme, registry)
  checkErrorTable(t, readme.replace('0x81', 'none'), registryOf(['X_ERR_ONE', 'X_ERR_TWO']))
  t.same(readErrorTable('# no errors section'), new Map())
  t.equal(readErrorTable(readme.slice(0, readme.indexOf('## Performance'))).size, 2, 'an errors section last in the file')
})

t.test('the README table check fails on a missing, extra, duplicate or wrong row', async (t) => {
  const failures = (text: string, reg = registry): string[] => {
    const out: string[] = []
    const rec = {
      same (found: unknown, wanted: unknown, message?: string) { if (JSON.stringify(found) !== JSON.stringify(wanted)) out.push(message ?? 'same') },
      ok (value: unknown, message?: string) { if (value !== true) out.push(message ?? 'ok') }
    }
    checkErrorTable(rec, text, reg)
    return out
  }
  t.same(failures(readme), [])
  t.equal(failures(readme.replace('| `X_ERR_TWO` | never | — |\n', '')).length, 2, 'missing row: set and reason column')
  t.equal(failures(readme, registryFrom({ X_ERR_ONE: 0x81, X_ERR_TWO: undefined, X_ERR_NEW: 0x82 })).length, 2, 'undocumented code')
  t.match(failures(readme.replace('| 0x81 |', '| 0x82 |')), [/X_ERR_ONE: the table names reason code 0x81/])
  t.match(failures(readme.replace('| never | — |', '| never | 0x80 |')), [/X_ERR_TWO: no reason code/])
  t.equal(failures(readme.replace('| `X_ERR_TWO` | never | — |', '| `X_ERR_TWO` | never | — |\n| `X_ERR_TWO` | again | — |')).length, 1, 'duplicate row')
})
