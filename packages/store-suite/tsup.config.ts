import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts', 'src/bench.ts', 'src/e2e.ts'],
  format: ['esm'],
  target: 'node20',
  dts: { compilerOptions: { composite: false } },
  tsconfig: 'tsconfig.build.json',
  sourcemap: true,
  clean: true,
  // test tools come from the repository root, never bundled
  external: ['mqtt', 'fast-check', 'tap', 'aedes']
})
