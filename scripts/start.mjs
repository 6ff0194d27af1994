#!/usr/bin/env node
// `npm start`: run the reference broker (apps/broker, the `culex` command) with its embedded
// default. On a fresh clone it first builds the app and the packages it depends on.
import { existsSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join, dirname } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = join(root, 'apps', 'broker', 'dist', 'cli.js')

if (!existsSync(cli)) {
  console.error('culex: building the broker first (npm run build for the app and its packages)…')
  const turbo = join(root, 'node_modules', '.bin', 'turbo')
  const built = spawnSync(turbo, ['run', 'build', '--filter=@culex/cli...', '--output-logs=errors-only'], { cwd: root, stdio: 'inherit' })
  if (built.status !== 0 || !existsSync(cli)) {
    console.error('culex: the build failed; run `npm run build` to see why.')
    process.exit(1)
  }
}

const child = spawn(process.execPath, [cli, ...process.argv.slice(2)], { stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
