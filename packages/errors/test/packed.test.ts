/**
 * The private package must not leak into what is published: no packed file of a public
 * package imports `@culex/errors` or names it as a dependency, and each one that raises errors
 * carries the bundled brand instead.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const dirs = ['packages', 'apps'].flatMap((d) => readdirSync(join(root, d)).map((n) => join(root, d, n)))
  .filter((d) => existsSync(join(d, 'package.json')))
const published = dirs.filter((d) => JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).private !== true)

t.ok(published.length >= 9, 'found the public packages')
for (const dir of published) {
  const name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name as string
  const built = existsSync(join(dir, 'dist'))
  t.test(`${name}: the packed files do not reference @culex/errors`, { skip: built ? false : `${name} is not built (run the build first)` }, async (t) => {
    const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ files: Array<{ path: string }> }>
    const files = pack!.files.map((f) => f.path)
    const leaking = files.filter((f) => /\.(js|d\.ts|json|cjs|mjs)$/.test(f) && readFileSync(join(dir, f), 'utf8').includes('@culex/errors'))
    t.same(leaking, [], 'no packed file names the private package')
    const branded = files.some((f) => f.endsWith('.js') && readFileSync(join(dir, f), 'utf8').includes('Symbol.for("culex.error")'))
    t.ok(branded, 'the error factory is bundled in')
  })
}
