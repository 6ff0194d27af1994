import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts', 'src/compare/compare-cli.ts', 'src/compare/aedes-server.ts', 'src/compare/readme-table.ts', 'src/compare/cluster.ts'],
  format: ['esm'],
  target: 'node20',
  dts: { entry: 'src/index.ts', compilerOptions: { composite: false } },
  tsconfig: 'tsconfig.build.json',
  sourcemap: true,
  clean: true,
  external: ['aedes', 'aedes-persistence-level', 'aedes-persistence-redis', 'classic-level', '@culex/packet', '@culex/broker']
})
