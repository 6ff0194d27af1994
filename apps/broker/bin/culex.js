#!/usr/bin/env node
// The `culex` bin. A committed file (not dist/cli.js itself) so that npm links it on the
// first `npm install` of a fresh clone, before anything is built.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  console.error('culex: the broker is not built yet. Run `npm run build` (or `npm start`, which builds it) first.')
  process.exit(1)
}
await import(cli.href)
