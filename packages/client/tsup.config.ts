import { resolve } from 'node:path'
import { defineConfig } from 'tsup'
import { config } from '../../tsup.base.ts'

export default defineConfig([
  config(),
  config({
    // The browser bundle: one self-contained ESM file with @culex/packet and @culex/trie inside and a
    // small Buffer implementation injected where the code refers to the global `Buffer`.
    entry: { browser: 'src/browser.ts' },
    target: 'es2022',
    platform: 'browser',
    clean: false,
    noExternal: ['@culex/packet', '@culex/trie'],
    minify: true,
    esbuildOptions (o) {
      o.inject = [resolve('src/browser-buffer.ts')]
      // @culex/packet imports isUtf8 from node:buffer ('buffer'): map it to the shim too
      o.alias = { buffer: resolve('src/browser-buffer.ts'), 'node:buffer': resolve('src/browser-buffer.ts') }
    }
  })
])
