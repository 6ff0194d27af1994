#!/usr/bin/env node
// `npm start`: run the reference broker (apps/broker) with its embedded default.
// Until the broker app is built this says so and exits non-zero instead of failing silently.
import { existsSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join, dirname } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = join(root, 'apps', 'broker', 'dist', 'cli.js')

if (!existsSync(cli)) {
  if (!existsSync(join(root, 'apps', 'broker', 'package.json'))) {
    console.error('culex: the broker app (apps/broker) is not part of this checkout yet; nothing to start.')
  } else {
    console.error('culex: the broker app is not built yet. Run `npm run build` first.')
  }
  process.exit(1)
}

const child = spawn(process.execPath, [cli, ...process.argv.slice(2)], { stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
