import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { cleanEnv } from '@culex/test-kit'
import { benchDir, failWith, loadAverage, machineMeta, parseFlags, pinned, runGenerator } from '../src/compare/harness.ts'

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist')

t.test('parseFlags: the command line against the options; a bad flag goes to fail', async (t) => {
  const argv = process.argv
  t.teardown(() => { process.argv = argv })
  const fail = (message: string): never => { throw new Error(`failed: ${message}`) }
  process.argv = [argv[0]!, 'cmd', '--rounds', '3', '--quick']
  t.same(parseFlags({ rounds: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } }, fail), { rounds: '3', quick: true })
  process.argv = [argv[0]!, 'cmd', '--bogus']
  t.throws(() => parseFlags({ rounds: { type: 'string' } }, fail), { message: /^failed: Unknown option '--bogus'/ })
})

t.test('failWith: the message on stderr under the command name, exit code 2', async (t) => {
  const written: string[] = []
  const exits: Array<number | undefined> = []
  t.intercept(process.stderr, 'write', { value: (s: string) => { written.push(s); return true } })
  t.intercept(process, 'exit', { value: (code?: number) => { exits.push(code); throw new Error('exited') } })
  t.throws(() => failWith('bench:x')('no broker available'), { message: 'exited' })
  t.same(written, ['bench:x: no broker available\n'])
  t.same(exits, [2])
})

t.test('the comparison commands exit 2 on a bad flag, naming themselves', { skip: existsSync(path.join(dist, 'compare', 'compare-cli.js')) ? false : 'apps/bench is not built (npm run build -w culex-bench)' }, async (t) => {
  for (const [file, name] of [['compare-cli.js', 'bench:brokers'], ['operator-cost.js', 'bench:operator']] as const) {
    const r = spawnSync(process.execPath, [path.join(dist, 'compare', file), '--bogus'], { encoding: 'utf8', env: cleanEnv() })
    t.equal(r.status, 2, `${file}: exit 2`)
    t.match(r.stderr, new RegExp(`^${name}: Unknown option '--bogus'`), `${file}: message`)
  }
})

t.test('runGenerator: a culex-bench that fails is reported with its exit code and output', async (t) => {
  // the child inherits this environment: without tap's coverage variables, so the built
  // files it runs are not counted as this package's (untested) sources
  const saved = { ...process.env }
  for (const k of Object.keys(process.env)) if (k.startsWith('NODE_V8_COVERAGE') || k === 'NODE_OPTIONS') delete process.env[k]
  const pending = runGenerator(['nosuch'], null, 30_000)
  Object.assign(process.env, saved)
  const r = await pending
  t.equal(r.result, undefined)
  t.match(r.error, /^culex-bench exited with 2: culex-bench: unknown scenario "nosuch"/)
})

t.test('machineMeta: when, Node, CPUs, load, pinning', async (t) => {
  const at = new Date('2026-01-02T03:04:05.000Z')
  const m = machineMeta(at, 'not pinned')
  t.same({ date: m.date, node: m.node, pinned: m.pinned }, { date: '2026-01-02T03:04:05.000Z', node: process.version, pinned: 'not pinned' })
  t.match(m.cpus, new RegExp(`^${os.cpus().length} × `))
  t.equal(m.loadAverageAtStart.length, 3)
  t.equal(loadAverage().length, 3)
})

t.test('pinned prefixes taskset only for a CPU; benchDir is apps/bench', async (t) => {
  t.same(pinned(null, 'node', ['x']), ['node', ['x']])
  t.same(pinned('1', 'node', ['x']), ['taskset', ['-c', '1', 'node', 'x']])
  t.equal(benchDir, path.resolve(dist, '..'))
})
