#!/usr/bin/env node
/**
 * npm run bench:readme -- <run.json>: regenerates a comparison table from a JSON file written
 * by bench:brokers. With no argument, the newest file in apps/bench/results/ is used. Numbers
 * are never hand-edited. Where the table goes depends on the run's persistence:
 *  - memory: apps/bench/README.md, between the bench:brokers markers;
 *  - level / redis: packages/store-level or store-redis README.md, between the
 *    bench:persistence markers.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { benchDir } from './brokers.ts'
import { markdownTable, type SummaryRow } from './suite.ts'

interface Run {
  meta: { persistence?: string, date: string, node: string, cpus: string, pinned: string, rounds: number, quick: boolean, queueLimit: number, baseline: string, durationS: number, loadAverageAtStart: number[], loadAverageAtEnd: number[], brokers: Array<{ name: string, version: string }> }
  summary: SummaryRow[]
}

let file = process.argv[2]
if (file === undefined) {
  const dir = path.join(benchDir, 'results')
  const names = readdirSync(dir).filter(n => n.endsWith('.json')).sort()
  if (names.length === 0) {
    process.stderr.write(`bench:readme: no JSON run in ${dir}; run npm run bench:brokers first\n`)
    process.exit(2)
  }
  file = path.join(dir, names[names.length - 1] as string)
}
const run = JSON.parse(readFileSync(file, 'utf8')) as Run
const brokers = run.meta.brokers.map(b => b.name)
const m = run.meta
const persistence = m.persistence ?? 'memory'
const marker = persistence === 'memory' ? 'bench:brokers' : 'bench:persistence'
const START = `<!-- ${marker}:start -->`
const END = `<!-- ${marker}:end -->`
const readme = persistence === 'memory' ? path.join(benchDir, 'README.md') : path.resolve(benchDir, '..', '..', 'packages', `store-${persistence}`, 'README.md')
const body = [
  START,
  '',
  `Run of ${m.date}${persistence === 'memory' ? '' : ` (\`npm run bench:brokers -- --persistence ${persistence}\`)`}: ${m.rounds} round(s)${m.quick ? ' (--quick)' : ''}, ${m.durationS} s, Node ${m.node}, ${m.cpus}, ${m.pinned}; ` +
    `load average ${m.loadAverageAtStart.join(' / ')} at start, ${m.loadAverageAtEnd.join(' / ')} at end. ` +
    `Brokers: ${m.brokers.map(b => `${b.name} ${b.version}`).join(', ')}. Queue limit ${m.queueLimit.toLocaleString('en-US')}. ` +
    `Ratios are "better than ${m.baseline}" factors of the medians (> 1 = better; for latency and memory, lower values give ratios > 1).`,
  '',
  markdownTable(run.summary, brokers, m.baseline).trimEnd(),
  '',
  END
].join('\n')
const text = readFileSync(readme, 'utf8')
const a = text.indexOf(START)
const b = text.indexOf(END)
if (a === -1 || b === -1 || b < a) {
  process.stderr.write(`bench:readme: ${readme} has no ${START} ... ${END} block\n`)
  process.exit(2)
}
writeFileSync(readme, text.slice(0, a) + body + text.slice(b + END.length))
process.stdout.write(`bench:readme: table from ${file} written to ${readme}\n`)
