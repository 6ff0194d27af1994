#!/usr/bin/env node
// The `culex-bench` bin. A committed file (not dist/cli.js itself) so that npm links it on the
// first `npm install` of a fresh clone, before anything is built.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  console.error('culex-bench: not built yet. Run `npm run build` first.')
  process.exit(1)
}
await import(cli.href)
