// The README and the code stay in step: every option (flag, env var) and every error code
// is documented, and the README names no code that does not exist.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { OPTIONS, envName } from '../src/options.ts'
import { checkErrorTable } from '@culex/errors/readme-table'
import { AppError, AppErrorCodes } from '../src/errors.ts'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

t.test('every option is in the README with its env var and default', async t => {
  for (const o of OPTIONS) {
    const row = readme.split('\n').find(l => l.includes(`\`--${o.flag}\``))
    t.ok(row, `--${o.flag} documented`)
    t.ok(row?.includes(`\`${envName(o)}\``) && row.includes(o.defaultText.replaceAll('|', '\\|')), `--${o.flag} row has env and default`)
  }
})

t.test('errors table matches AppErrorCodes', async t => {
  checkErrorTable(t, readme, AppError.registry)
  const documented = new Set([...readme.matchAll(/\| `(CULEX_ERR_[A-Z_]+)` \|[^|]+\| (\d) \|/g)].map(m => `${m[1]}:${m[2]}`))
  const actual = new Set(Object.entries(AppErrorCodes).map(([code, exit]) => `${code}:${exit}`))
  t.same([...documented].sort(), [...actual].sort(), 'same codes and exit codes')
})

t.test('every culex_* metric is in the README metrics table', async t => {
  const { METRIC_NAMES } = await import('../src/metrics.ts')
  const rows = readme.split('\n').filter(l => /^\| `culex_/.test(l))
  const documented = new Set(rows.flatMap(l => [...l.split('|')[1]!.matchAll(/`(culex_[a-z_]+)`/g)].map(m => m[1])))
  t.same([...documented].sort(), [...METRIC_NAMES].sort(), 'same names')
})
