import { defineConfig } from 'tsup'

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    dts: { compilerOptions: { composite: false } },
    tsconfig: 'tsconfig.build.json',
    sourcemap: true,
    clean: true
  },
  {
    // The `culex` command; the shebang makes dist/cli.js runnable as the package bin.
    entry: ['src/cli.ts'],
    format: ['esm'],
    target: 'node20',
    tsconfig: 'tsconfig.build.json',
    sourcemap: true,
    clean: false,
    banner: { js: '#!/usr/bin/env node' },
    async onSuccess () {
      const { chmod } = await import('node:fs/promises')
      await chmod('dist/cli.js', 0o755)
    }
  }
])
