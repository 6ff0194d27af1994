import { defineConfig } from 'tsup'
import { config } from '../../tsup.base.ts'

export default defineConfig(config({
  entry: ['src/index.ts', 'src/bench.ts', 'src/e2e.ts'],
  // test tools come from the repository root, never bundled
  external: ['mqtt', 'fast-check', 'tap', 'aedes']
}))
