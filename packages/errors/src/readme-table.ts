/**
 * The one check that keeps a package README's errors table and its error registry in step
 * (used by every package's `test/readme.test.ts`): the `## Errors` section lists exactly the
 * registry's codes, one row each, and where the registry gives reason codes the row's last
 * column names that code (or `—` for a code without one).
 */
import type { ErrorRegistry } from './index.ts'

/** The assertions the check needs (a tap `Test` has them). */
export interface TableAsserts {
  same (found: unknown, wanted: unknown, message: string): unknown
  ok (value: unknown, message: string): unknown
}

/**
 * The rows of the README's `## Errors` section whose first cell is a backquoted code.
 *
 * @param readme - the README's text
 * @returns code → the row's other cells, trimmed, in order
 */
export function readErrorTable (readme: string): Map<string, string[]> {
  const start = readme.search(/^## Errors\s*$/m)
  const rows = new Map<string, string[]>()
  if (start === -1) return rows
  const rest = readme.slice(start + 1)
  const end = rest.search(/^## /m)
  const section = end === -1 ? rest : rest.slice(0, end)
  for (const m of section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|(.*)\|\s*$/gm)) {
    const code = m[1] as string
    // a `\|` inside a cell is an escaped pipe, not a column boundary
    const cells = (m[2] as string).split(/(?<!\\)\|/).map((c) => c.trim())
    if (rows.has(code)) rows.set(code + ' (duplicate row)', cells)
    else rows.set(code, cells)
  }
  return rows
}

/**
 * Asserts that the README errors table and the registry agree.
 *
 * @param t - a tap test (or anything with `same` and `ok`)
 * @param readme - the README's text
 * @param registry - the package's error registry (`XxxError.registry`)
 */
export function checkErrorTable (t: TableAsserts, readme: string, registry: ErrorRegistry<string>): void {
  const rows = readErrorTable(readme)
  t.same([...rows.keys()].sort(), Object.keys(registry).sort(), 'the errors table lists every code once, and no other')
  const withReasons = Object.values(registry).some((s) => s.reasonCode !== undefined)
  if (!withReasons) return
  for (const [code, spec] of Object.entries(registry)) {
    const last = rows.get(code)?.at(-1) ?? ''
    if (spec.reasonCode === undefined) {
      t.ok(last === '—', `${code}: no reason code, the table says "—" (got "${last}")`)
    } else {
      const hex = '0x' + spec.reasonCode.toString(16).padStart(2, '0')
      t.ok(last.toLowerCase().includes(hex), `${code}: the table names reason code ${hex} (got "${last}")`)
    }
  }
}
