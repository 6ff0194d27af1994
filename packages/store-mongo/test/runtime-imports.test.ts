/**
 * The store needs @culex/broker for its types only (a peer): no built module imports it at
 * run time. The record format comes from @culex/packet/record.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

const dist = new URL('../dist/', import.meta.url)
const built = existsSync(dist)
t.test('no built module imports @culex/broker at run time', { skip: built ? false : 'not built (run the build first)' }, async (t) => {
  const files = readdirSync(dist).filter((f) => f.endsWith('.js'))
  t.ok(files.length > 0, 'found the built modules')
  for (const f of files) {
    const js = readFileSync(new URL(f, dist), 'utf8')
    t.notMatch(js, /from\s*["']@culex\/broker["']|import\(\s*["']@culex\/broker["']\s*\)/, `${f} does not import @culex/broker`)
  }
})
