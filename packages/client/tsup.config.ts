import { resolve } from 'node:path'
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
    // The browser bundle: one self-contained ESM file with @culex/packet inside and a
    // small Buffer implementation injected where the code refers to the global `Buffer`.
    entry: { browser: 'src/browser.ts' },
    format: ['esm'],
    target: 'es2022',
    platform: 'browser',
    dts: { compilerOptions: { composite: false } },
    tsconfig: 'tsconfig.build.json',
    sourcemap: true,
    clean: false,
    noExternal: ['@culex/packet'],
    minify: true,
    esbuildOptions (o) {
      o.inject = [resolve('src/browser-buffer.ts')]
      // @culex/packet imports isUtf8 from node:buffer ('buffer'): map it to the shim too
      o.alias = { buffer: resolve('src/browser-buffer.ts'), 'node:buffer': resolve('src/browser-buffer.ts') }
    }
  }
])
