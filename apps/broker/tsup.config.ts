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
    const { chmod } = await import('node:fs/promises')
    await chmod('dist/cli.js', 0o755)
  }
}))
