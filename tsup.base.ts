// The one tsup configuration every package builds with: ESM for Node 20, bundled `.d.ts`,
// no source maps (the output is unminified ES2022 that reads like its source, and maps
// would be most of each published tarball). A package passes only what differs.
import type { Options } from 'tsup'

// tsup 8 sets `baseUrl` for its declaration build, which TypeScript 6 reports as deprecated.
// rootDir is the repo root there because the bundled @culex/errors sources live outside src/.
const dtsCompilerOptions = { composite: false, ignoreDeprecations: '6.0', rootDir: '../..' }
// @culex/errors is private: its code is bundled into every package and its types inlined
// into every .d.ts, so no published package imports it.
const internal = ['@culex/errors']

export const base = {
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  dts: { compilerOptions: dtsCompilerOptions, resolve: internal },
  noExternal: internal,
  tsconfig: 'tsconfig.build.json',
  sourcemap: false,
  clean: true
} satisfies Options

/**
 * `base` with `overrides` on top. A key given replaces the base's value, except `dts`
 * given as an object (e.g. `{ entry }`), which keeps the base's compiler options.
 */
export function config (overrides: Options = {}): Options {
  const out: Options = { ...base, ...overrides }
  if (typeof overrides.dts === 'object') {
    out.dts = { resolve: internal, ...overrides.dts, compilerOptions: { ...dtsCompilerOptions, ...(overrides.dts.compilerOptions as object | undefined) } }
  }
  return out
}
