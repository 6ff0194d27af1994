/**
 * The check every package's `test/errors.test.ts` makes of its error class (made by
 * `defineErrors` of @culex/errors): code, name and cause; `instanceof` and the `isXxxError`
 * guard accept an error of another installed copy of the package (the brand and a code of
 * the registry), and refuse one without the brand or with a code of no registry; the
 * registry is exactly the package's exported code constants.
 */
import type { Test } from 'tap'

export interface ErrorClassOptions<C extends string> {
  /** The package's error class, e.g. `LevelStoreError`. */
  ErrorClass: (new (code: C, message: string, opts?: { cause?: unknown }) => Error & { code: string }) & { registry: Readonly<Record<C, unknown>> }
  /** Its guard, e.g. `isLevelStoreError`. */
  isError: (value: unknown) => boolean
  /** The exported code constants, e.g. `LevelStoreErrorCodes`, and the name they are exported under. */
  codes: Readonly<Record<string, C>>
  codesName: string
  /** A code of the registry to build errors with. */
  code: C
}

const BRAND = Symbol.for('culex.error')

/** Add the error-class test to `t`. */
export function errorClassTest<C extends string> (t: Test, opts: ErrorClassOptions<C>): void {
  const { ErrorClass, isError, code } = opts
  const name = new ErrorClass(code, 'm').name
  void t.test(`${name}: code, name, cause, and instanceof across installed copies; the registry is ${opts.codesName}`, async (t) => {
    t.same(Object.keys(ErrorClass.registry).sort(), Object.values(opts.codes).sort(), `the registry is ${opts.codesName}`)
    const cause = new Error('below')
    const err = new ErrorClass(code, 'm', { cause })
    t.equal(err.code, code)
    t.equal(err.name, name)
    t.equal(err.cause, cause)
    t.ok(err instanceof Error)
    t.ok(isError(err))
    const other = Object.assign(new Error('m'), { code, [BRAND]: name })
    t.ok(other instanceof ErrorClass, 'one from another copy of the package')
    t.ok(isError(other), 'the guard too')
    t.notOk(isError(Object.assign(new Error('m'), { code })), 'no brand')
    t.notOk(isError(Object.assign(new Error('m'), { code: 'CULEX_ERR_OF_NO_REGISTRY', [BRAND]: name })), 'a code of no registry')
    t.notOk(isError(code), 'a code alone')
  })
}
