#!/usr/bin/env node
// The reliability loop: the full `npm test` N times in a row (default 20), optionally with a
// CPU-heavy process per core beside it, stopping at the first failure with its log kept.
//
//   node scripts/reliability.mjs [--runs N] [--load] [--load-procs K] [--force] [--log-dir DIR] [--keep-logs]
//
// turbo's `test` task has `cache: false`, so every run re-runs every package's tests; a run
// whose log shows a `test` task answered from the cache counts as a failure of the loop
// (it would prove nothing). turbo runs with `--continue`, so a failed run still runs every
// package's tests and its log names every failure, not only the first. `--force` also re-runs
// the cached tasks (lint, build, typecheck, package checks) each time. Each run's closing
// counts come from scripts/tap-summary.mjs.
import { spawn, spawnSync } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

function usage (code) {
  console.log(`usage: node scripts/reliability.mjs [options]
  --runs N          consecutive full \`npm test\` runs (default 20)
  --load            run a busy-loop process per core beside the tests (killed at the end)
  --load-procs K    that many busy-loop processes instead of one per core (implies --load)
  --force           also re-run turbo's cached tasks (lint, build, typecheck, check:package)
  --log-dir DIR     where run logs go (default .reliability/ in the repository)
  --keep-logs       keep the logs of green runs too (a failed run's log is always kept)`)
  process.exit(code)
}

const opts = { runs: 20, load: 0, force: false, logDir: join(root, '.reliability'), keepLogs: false }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const value = () => {
    const v = argv[++i]
    if (v === undefined) { console.error(`reliability: ${a} needs a value`); usage(2) }
    return v
  }
  const count = (v) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) { console.error(`reliability: ${a} expects a positive integer, got ${v}`); usage(2) }
    return n
  }
  if (a === '--runs' || a === '-n') opts.runs = count(value())
  else if (a === '--load') opts.load = opts.load || availableParallelism()
  else if (a === '--load-procs') opts.load = count(value())
  else if (a === '--force') opts.force = true
  else if (a === '--log-dir') opts.logDir = resolve(value())
  else if (a === '--keep-logs') opts.keepLogs = true
  else if (a === '--help' || a === '-h') usage(0)
  else { console.error(`reliability: unknown option ${a}`); usage(2) }
}
mkdirSync(opts.logDir, { recursive: true })

// Children are started in their own process group (detached) so that a stop ends npm,
// turbo, tap and every broker they started, and nothing else.
const load = []
let current = null
let stopping = false
function killGroup (pgid, signal) {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false // the whole group is gone
  }
}
function cleanup () {
  for (const p of load) killGroup(p.pid, 'SIGKILL')
  if (current !== null) killGroup(current.pid, 'SIGTERM')
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    console.log(`\nreliability: ${sig}, stopping`)
    stopping = true
    const group = current?.pid
    cleanup()
    // turbo stops its tasks on SIGTERM; whatever of the run is left after 10 s is killed
    if (group !== undefined) {
      const end = Date.now() + 10_000
      while (Date.now() < end && killGroup(group, 0)) await new Promise((resolve) => setTimeout(resolve, 100))
      killGroup(group, 'SIGKILL')
    }
    process.exit(130)
  })
}

for (let i = 0; i < opts.load; i++) {
  const p = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore', detached: true })
  load.push(p)
}

function runOnce (n) {
  const log = join(opts.logDir, `run-${String(n).padStart(2, '0')}.log`)
  const out = createWriteStream(log)
  const args = ['test', '--', '--continue', ...(opts.force ? ['--force'] : [])]
  const started = process.hrtime.bigint()
  return new Promise((resolve) => {
    const child = spawn('npm', args, {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    current = child
    child.stdout.pipe(out, { end: false })
    child.stderr.pipe(out, { end: false })
    child.on('close', (code, signal) => {
      current = null
      out.end(() => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9
        resolve({ log, code: code ?? (signal !== null ? 128 : 1), seconds })
      })
    })
  })
}

// The counts line (and, on failure, the failed assertions) as scripts/tap-summary.mjs sums them.
function summary (log) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'tap-summary.mjs'), log], { encoding: 'utf8' })
  return r.stdout.trim()
}

const fmt = (s) => `${s.toFixed(1)} s`
const times = []
let failed = null
console.log(`reliability: ${opts.runs} run(s) of npm test${opts.force ? ' --force' : ''}` +
  `${opts.load > 0 ? `, ${opts.load} busy-loop process(es) beside them` : ''}; logs in ${opts.logDir}`)
for (let n = 1; n <= opts.runs; n++) {
  const r = await runOnce(n)
  if (stopping) await new Promise(() => {}) // the signal handler ends the process
  const text = readFileSync(r.log, 'utf8')
  const cached = [...text.matchAll(/^(\S+):test: cache hit/gm)].map((m) => m[1])
  const sum = summary(r.log)
  const counts = sum.split('\n').pop()
  times.push(r.seconds)
  if (r.code !== 0 || cached.length > 0) {
    const why = r.code !== 0 ? `npm test exited with ${r.code}` : `test task(s) answered from the cache: ${cached.join(', ')}`
    console.log(`run ${n}/${opts.runs}: FAILED in ${fmt(r.seconds)} (${why}); ${counts}`)
    console.log(sum)
    console.log(`log kept: ${r.log}`)
    failed = n
    break
  }
  console.log(`run ${n}/${opts.runs}: green in ${fmt(r.seconds)}; ${counts}`)
  if (!opts.keepLogs) rmSync(r.log, { force: true })
}
cleanup()

const sorted = [...times].sort((a, b) => a - b)
const median = sorted.length === 0 ? 0 : sorted[Math.floor((sorted.length - 1) / 2)]
const green = failed === null ? times.length : failed - 1
console.log(`reliability: ${green}/${opts.runs} consecutive runs green${failed !== null ? `, run ${failed} failed` : ''}; ` +
  `run times min ${fmt(sorted[0] ?? 0)}, median ${fmt(median)}, max ${fmt(sorted[sorted.length - 1] ?? 0)}; ` +
  `load: ${opts.load > 0 ? `${opts.load} busy-loop process(es)` : 'none'}`)
process.exit(failed === null ? 0 : 1)
