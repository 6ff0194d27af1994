/**
 * The private package must not leak into what is published: no packed file of a public
 * package imports `@culex/errors` or names it as a dependency, and each one carries the bundled
 * error brand instead. One `npm pack --dry-run --workspaces` lists every tarball's files.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// npm packs thirteen workspaces in one process: slow on a busy machine
t.setTimeout(180_000)

const root = fileURLToPath(new URL('../../../', import.meta.url))
const dirs = new Map<string, string>()
for (const d of ['packages', 'apps']) {
  for (const n of readdirSync(join(root, d))) {
    const file = join(root, d, n, 'package.json')
    if (!existsSync(file)) continue
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name: string, private?: boolean }
    if (pkg.private !== true) dirs.set(pkg.name, join(root, d, n))
  }
}
const unbuilt = [...dirs.values()].filter((d) => !existsSync(join(d, 'dist')))

t.test('no packed file of a public package references @culex/errors', { skip: unbuilt.length === 0 ? false : `not built: ${unbuilt.join(', ')} (run the build first)` }, async (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--workspaces'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 })
  const packs = (JSON.parse(out) as Array<{ name: string, files: Array<{ path: string }> }>).filter((p) => dirs.has(p.name))
  t.same(packs.map((p) => p.name).sort(), [...dirs.keys()].sort(), 'every public package was packed')
  t.ok(packs.length >= 10, `${packs.length} public packages`)
  for (const pack of packs) {
    const dir = dirs.get(pack.name) as string
    const files = pack.files.map((f) => f.path)
    const text = (f: string): string => readFileSync(join(dir, f), 'utf8')
    const leaking = files.filter((f) => /\.(js|d\.ts|json|cjs|mjs)$/.test(f) && text(f).includes('@culex/errors'))
    t.same(leaking, [], `${pack.name}: no packed file names the private package`)
    t.ok(files.some((f) => f.endsWith('.js') && text(f).includes('Symbol.for("culex.error")')), `${pack.name}: the error factory is bundled in`)
  }
})
