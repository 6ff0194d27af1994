import { defineConfig } from 'tsup'
import { config } from '../../tsup.base.ts'

export default defineConfig(config({
  // index: the library surface; cli: the `culex` command (package bin). One build so the
  // clean step cannot race a second build writing to the same dist/.
  entry: ['src/index.ts', 'src/cli.ts'],
  dts: { entry: 'src/index.ts' },
  // The shebang makes dist/cli.js runnable as the bin (harmless at the top of index.js).
  banner: { js: '#!/usr/bin/env node' },
  async onSuccess () {
    const { chmod, copyFile } = await import('node:fs/promises')
    await chmod('dist/cli.js', 0o755)
    // the web console: preact + htm + uPlot bundled into dist/console (served offline, no CDN)
    const { build } = await import('esbuild')
    await build({ entryPoints: ['console/main.js'], bundle: true, minify: true, format: 'esm', target: 'es2020', outfile: 'dist/console/app.js', logLevel: 'warning' })
    await copyFile('console/index.html', 'dist/console/index.html')
  }
}))
