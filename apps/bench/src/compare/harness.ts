/**
 * What the comparison commands (compare-cli.ts, operator-cost.ts) share: strict flag parsing
 * that exits 2 with the command's name, culex-bench run in a child process (pinned) for its
 * JSON result, and the machine facts every results file starts with. Also where apps/bench is
 * (`benchDir`) and the taskset prefix (`pinned`), which brokers.ts re-exports.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { BenchResult } from '../result.ts'

/** apps/bench: the nearest folder above this module with culex-bench's package.json (bundling moves modules). */
export const benchDir = findBenchDir(path.dirname(fileURLToPath(import.meta.url)))

function findBenchDir (from: string): string {
  let dir = from
  for (;;) {
    const pkg = path.join(dir, 'package.json')
    if (existsSync(pkg) && /"name":\s*"culex-bench"/.test(readFileSync(pkg, 'utf8'))) return dir
    const up = path.dirname(dir)
    if (up === dir) return path.resolve(from, '..', '..')
    dir = up
  }
}

const cliJs = path.join(benchDir, 'dist', 'cli.js')

/** Prefixes a command with `taskset -c <cpu>` when cpu is given. */
export function pinned (cpu: string | null, cmd: string, args: string[]): [string, string[]] {
  return cpu === null ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]]
}

/**
 * A `fail(message)` for command `name`: the message on stderr, exit code 2. Give the constant
 * holding it the type `(message: string) => never`, so that TypeScript narrows after a call.
 */
export function failWith (name: string): (message: string) => never {
  return (message) => {
    process.stderr.write(`${name}: ${message}\n`)
    process.exit(2)
  }
}

/** The command line parsed strictly against `options`; an unknown or malformed flag is a `fail`. */
export function parseFlags<const O extends NonNullable<ParseArgsConfig['options']>> (options: O, fail: (message: string) => never): ReturnType<typeof parseArgs<{ options: O, strict: true }>>['values'] {
  try {
    return parseArgs({ args: process.argv.slice(2), strict: true, options }).values
  } catch (err) {
    return fail((err as Error).message)
  }
}

/** One culex-bench run in a child process (pinned to `cpu`), its JSON result or error. */
export function runGenerator (args: string[], cpu: string | null, timeoutMs: number): Promise<{ result?: BenchResult, error?: string }> {
  return new Promise((resolve) => {
    const [c, a] = pinned(cpu, process.execPath, [cliJs, ...args, '--json', '--no-progress'])
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000) })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      for (const line of out.split('\n')) {
        if (line.trim() === '') continue
        try {
          const j = JSON.parse(line) as { type: string, message?: string }
          if (j.type === 'result') { resolve({ result: j as unknown as BenchResult }); return }
          if (j.type === 'error') { resolve({ error: j.message ?? 'error' }); return }
        } catch {}
      }
      resolve({ error: `culex-bench exited with ${code ?? 'signal'}: ${err.trim().slice(-300)}` })
    })
  })
}

/** The load averages now, to two decimals. */
export function loadAverage (): number[] {
  return os.loadavg().map(n => Number(n.toFixed(2)))
}

/** The first facts of a results file: when, which Node, which CPUs, the load, how pinned. */
export function machineMeta (started: Date, pinning: string): { date: string, node: string, cpus: string, loadAverageAtStart: number[], pinned: string } {
  return {
    date: started.toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    loadAverageAtStart: loadAverage(),
    pinned: pinning
  }
}
