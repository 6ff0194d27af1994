#!/usr/bin/env node
/**
 * npm run bench:brokers — Culex vs aedes vs mosquitto under identical load.
 *
 * For every round, for every suite entry, for every broker (order rotated each round so no
 * broker always goes first): start the broker fresh (pinned to CPU 0 with taskset when
 * present), run culex-bench in a child process (pinned to CPU 1) with --json, stop the
 * broker. Prints medians, min–max and ratios to the baseline; writes all samples and the
 * summary as JSON (`--out`), from which `npm run bench:readme` regenerates the README table.
 *
 * Flags: --brokers culex,aedes,mosquitto  --baseline aedes  --rounds 3  --quick
 *        --only id,id  --out file.json  --no-pin  --queue-limit 100000
 *        --persistence memory|level|redis  --suite default|overload|stalled
 *
 * `--persistence level|redis` runs the persistence suite instead, with the brokers on that
 * database (see brokers.ts): culex, culex-nofsync (level only: culex --no-fsync) and aedes.
 * `--suite overload` and `--suite stalled` run those suites (suite.ts) with each broker's
 * default queue bound (1000).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { rotate } from '../math.ts'
import { failWith, loadAverage, machineMeta, parseFlags, runGenerator } from './harness.ts'
import { BROKERS, PERSISTENCES, availability, benchDir, brokerVersion, startBroker, which, type BrokerKind, type Persistence } from './brokers.ts'
import { markdownTable, overloadSuite, persistenceSuite, stalledSuite, summarize, suite, type Sample } from './suite.ts'

/** A broker under comparison: its name in the report, what to start, and how. */
interface Contestant { name: string, kind: BrokerKind, noFsync: boolean, cli?: string }

/** Contestant names each persistence allows, in default order. */
function contestantNames (p: Persistence): string[] {
  switch (p) {
    case 'memory': return [...BROKERS]
    case 'level': return ['culex', 'culex-nofsync', 'aedes']
    case 'redis': return ['culex', 'aedes']
  }
}

function contestant (name: string): Contestant {
  return name === 'culex-nofsync' ? { name, kind: 'culex', noFsync: true } : { name, kind: name as BrokerKind, noFsync: false }
}

const fail: (message: string) => never = failWith('bench:brokers')

async function main (): Promise<void> {
  const v = parseFlags({
    brokers: { type: 'string' },
    baseline: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean' },
    only: { type: 'string' },
    out: { type: 'string' },
    'no-pin': { type: 'boolean' },
    'queue-limit': { type: 'string' },
    persistence: { type: 'string' },
    suite: { type: 'string' },
    'culex-main': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, fail)
  if (v.help === true) {
    process.stdout.write('Usage: npm run bench:brokers -- [--brokers culex,aedes,mosquitto] [--baseline aedes] [--rounds 3] [--quick] [--only id,...] [--out file.json] [--no-pin] [--queue-limit 100000] [--persistence memory|level|redis] [--suite default|overload|stalled] [--culex-main path/to/cli.js]\n')
    return
  }
  const quick = v.quick === true
  const rounds = v.rounds === undefined ? (quick ? 1 : 3) : Number(v.rounds)
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) fail(`--rounds expects an integer in [1, 50], got "${v.rounds}"`)
  const suiteName = v.suite ?? 'default'
  if (suiteName !== 'default' && suiteName !== 'overload' && suiteName !== 'stalled') fail(`--suite expects default, overload or stalled, got "${suiteName}"`)
  // the overload and stalled suites run the brokers with their default queue bound: the one that overflows
  const queueLimit = v['queue-limit'] === undefined ? (suiteName === 'overload' || suiteName === 'stalled' ? 1000 : 100000) : Number(v['queue-limit'])
  if (!Number.isInteger(queueLimit) || queueLimit < 1) fail(`--queue-limit expects a positive integer, got "${v['queue-limit']}"`)
  const persistence = (v.persistence ?? 'memory') as Persistence
  if (!PERSISTENCES.includes(persistence)) fail(`--persistence expects one of ${PERSISTENCES.join(', ')}, got "${v.persistence}"`)
  if (persistence === 'redis' && which('redis-server') === null) fail('--persistence redis needs redis-server (Debian package redis-server)')
  const allowed = contestantNames(persistence)
  const wanted = (v.brokers ?? allowed.join(',')).split(',').map(s => s.trim()).filter(s => s !== '')
  for (const b of wanted) if (!allowed.includes(b)) fail(`unknown broker "${b}" for --persistence ${persistence}: expected some of ${allowed.join(', ')}`)
  const candidates = wanted.map(contestant)
  if (v['culex-main'] !== undefined) {
    if (!existsSync(v['culex-main'])) fail(`--culex-main: ${v['culex-main']} does not exist`)
    candidates.unshift({ name: 'culex-main', kind: 'culex', noFsync: false, cli: path.resolve(v['culex-main']) })
  }
  const contestants: Contestant[] = []
  for (const c of candidates) {
    const a = availability(c.kind)
    if (a.ok) contestants.push(c)
    else process.stderr.write(`bench:brokers: skipping ${c.name}: ${a.reason}\n`)
  }
  const brokers = contestants.map(c => c.name)
  if (brokers.length === 0) fail('no broker available')
  const baseline = v.baseline ?? (brokers.includes('aedes') ? 'aedes' : brokers[0] as string)
  if (!brokers.includes(baseline)) fail(`--baseline ${baseline} is not among the brokers run (${brokers.join(', ')})`)
  if (suiteName === 'stalled' && persistence !== 'memory') fail('--suite stalled runs on the memory store only')
  let entries = suiteName === 'overload' ? overloadSuite(quick) : suiteName === 'stalled' ? stalledSuite(quick) : persistence === 'memory' ? suite(quick) : persistenceSuite(quick)
  if (v.only !== undefined) {
    const ids = v.only.split(',')
    for (const id of ids) if (!entries.some(e => e.id === id)) fail(`--only: unknown entry "${id}": expected some of ${entries.map(e => e.id).join(', ')}`)
    entries = entries.filter(e => ids.includes(e.id))
  }
  const pin = v['no-pin'] !== true && which('taskset') !== null && os.cpus().length >= 2
  const brokerCpu = pin ? '0' : null
  const genCpu = pin ? '1' : null
  const started = new Date()
  const meta = {
    ...machineMeta(started, pin ? 'broker on CPU 0, generator on CPU 1 (taskset)' : 'not pinned'),
    rounds,
    quick,
    queueLimit,
    persistence,
    baseline,
    suite: suiteName,
    brokers: contestants.map(c => ({ name: c.name, version: c.cli !== undefined ? `(${c.cli})` : brokerVersion(c.kind) + (c.noFsync ? ' --no-fsync' : '') }))
  }
  process.stderr.write(`bench:brokers: ${brokers.join(', ')} × ${entries.length} runs × ${rounds} rounds; ${meta.pinned}; baseline ${baseline}\n`)
  const samples: Sample[] = []
  for (let round = 0; round < rounds; round++) {
    for (const e of entries) {
      for (const c of rotate(contestants, round + entries.indexOf(e))) {
        const b = c.name
        const t0 = Date.now()
        let sample: Sample
        try {
          const extraArgs = c.kind === 'culex' ? e.brokerArgs?.culex : undefined
          const h = await startBroker(c.kind, { cpu: brokerCpu, queueLimit, persistence, noFsync: c.noFsync, ...(c.cli === undefined ? {} : { cli: c.cli }), ...(extraArgs === undefined ? {} : { extraArgs }) })
          try {
            const args = [...e.args, '--port', String(h.port), '--label', b, ...(e.pid === true ? ['--pid', String(h.pid)] : [])]
            const r = await runGenerator(args, genCpu, 300000)
            sample = { round, entry: e.id, broker: b, ...r }
          } finally {
            await h.stop()
          }
        } catch (err) {
          sample = { round, entry: e.id, broker: b, error: (err as Error).message }
        }
        samples.push(sample)
        const shown = sample.result === undefined
          ? `FAILED: ${sample.error ?? ''}`
          : e.metrics.map(m => `${m.label} ${summarize([{ ...e, metrics: [m] }], [b], [sample], b)[0]?.cells[0]?.median.toFixed(m.digits)}`).join(', ')
        process.stderr.write(`  round ${round + 1} ${e.id.padEnd(13)} ${b.padEnd(9)} ${shown} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
      }
    }
  }
  const summary = summarize(entries, brokers, samples, baseline)
  const table = markdownTable(summary, brokers, baseline)
  process.stdout.write('\n' + table)
  const out = v.out ?? path.join(benchDir, 'results', `${suiteName === 'stalled' ? 'stalled' : suiteName === 'overload' ? `overload-${persistence}` : persistence === 'memory' ? 'brokers' : `persistence-${persistence}`}-${started.toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(path.dirname(out), { recursive: true })
  meta.loadAverageAtStart = meta.loadAverageAtStart.slice(0, 3)
  writeFileSync(out, JSON.stringify({ meta: { ...meta, durationS: Math.round((Date.now() - started.getTime()) / 1000), loadAverageAtEnd: loadAverage() }, entries, samples, summary }, null, 2) + '\n')
  process.stderr.write(`bench:brokers: wrote ${out} (${Math.round((Date.now() - started.getTime()) / 1000)} s)\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:brokers: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
