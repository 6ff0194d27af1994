import { readdirSync, readFileSync } from 'node:fs'

/**
 * The built modules (`*.js` directly in `dir`) that import `pkg` at run time, by a static
 * `from '…'` or a dynamic `import('…')`; type-only imports are gone from built code. Throws
 * when `dir` holds no module, so a missing build is not read as "nothing imports it".
 */
export function runtimeImporters (dir: URL | string, pkg: string): string[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.js')).sort()
  if (files.length === 0) throw new Error(`no built module in ${String(dir)}`)
  const name = pkg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  const re = new RegExp(`from\\s*["']${name}["']|import\\(\\s*["']${name}["']\\s*\\)`)
  const base = typeof dir === 'string' ? dir.replace(/\/?$/, '/') : dir
  return files.filter((f) => re.test(readFileSync(typeof base === 'string' ? base + f : new URL(f, base), 'utf8')))
}
