import { defineConfig } from 'tsup'
import { config } from '../../tsup.base.ts'

export default defineConfig(config({
  entry: ['src/index.ts', 'src/cli.ts', 'src/compare/compare-cli.ts', 'src/compare/aedes-server.ts', 'src/compare/readme-table.ts', 'src/compare/cluster.ts', 'src/compare/operator-cost.ts'],
  dts: { entry: 'src/index.ts' },
  external: ['aedes', 'aedes-persistence-level', 'aedes-persistence-redis', 'classic-level', '@culex/packet', '@culex/broker', 'playwright-core']
}))
