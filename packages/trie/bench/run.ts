// `npm run bench -w @culex/trie`: every bench in one run, then a Markdown table for the
// README on stdout (progress goes to stderr). BENCH_SIZES=10000,100000 to run fewer sizes.
import { runAddRemove } from './add-remove.bench.ts'
import { runHeap } from './heap.bench.ts'
import { runMatch } from './match.bench.ts'
import { runRetained } from './retained.bench.ts'
import { fmtOps, fmtSize, sink } from './util.ts'

const sizes = (process.env['BENCH_SIZES'] ?? '10000,100000,1000000').split(',').map(Number)
const retainedSize = Number(process.env['BENCH_RETAINED'] ?? 1_000_000)
const started = Date.now()

const match = runMatch(sizes)
const addRemove = runAddRemove(sizes)
const heap = runHeap(sizes)
const retained = runRetained(retainedSize, ['fleet/s4242/+/status', 'fleet/s4242/d42/#', 'fleet/+/d7/status'])

const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`
const lines: string[] = []
lines.push(`Node ${process.version}, ${process.platform}/${process.arch}. Ratio = Culex / qlobber (higher is better for ops/s, lower for bytes).`, '')
lines.push('| subscriptions | topics | Culex `match` ops/s | Culex `forEachMatch` ops/s | qlobber `match` ops/s | ratio (match) | ratio (forEachMatch) |')
lines.push('|---|---|---|---|---|---|---|')
for (const r of match) {
  lines.push(`| ${fmtSize(r.size)} | ${r.kind} | ${fmtOps(r.culexArray)} | ${fmtOps(r.culexCallback)} | ${fmtOps(r.qlobber)} | ${x(r.culexArray.opsPerSec, r.qlobber.opsPerSec)} | ${x(r.culexCallback.opsPerSec, r.qlobber.opsPerSec)} |`)
}
lines.push('', '| subscriptions | Culex add/s | qlobber add/s | ratio | Culex remove/s | qlobber remove/s | ratio |')
lines.push('|---|---|---|---|---|---|---|')
for (const r of addRemove) {
  lines.push(`| ${fmtSize(r.size)} | ${fmtOps(r.culexAdd)} | ${fmtOps(r.qlobberAdd)} | ${x(r.culexAdd.opsPerSec, r.qlobberAdd.opsPerSec)} | ${fmtOps(r.culexRemove)} | ${fmtOps(r.qlobberRemove)} | ${x(r.culexRemove.opsPerSec, r.qlobberRemove.opsPerSec)} |`)
}
lines.push('', '| subscriptions | Culex heap B/sub | qlobber heap B/sub | ratio |')
lines.push('|---|---|---|---|')
for (const r of heap) lines.push(`| ${fmtSize(r.size)} | ${r.culex.toFixed(0)} | ${r.qlobber.toFixed(0)} | ${x(r.culex, r.qlobber)} |`)
lines.push('', '| retained topics | filter | results | `RetainedIndex` walk lookups/s | full scan (Aedes memory persistence) lookups/s | ratio |')
lines.push('|---|---|---|---|---|---|')
for (const r of retained) lines.push(`| ${fmtSize(r.size)} | \`${r.filter}\` | ${r.results} | ${fmtOps(r.walk)} | ${fmtOps(r.scan)} | ${x(r.walk.opsPerSec, r.scan.opsPerSec)} |`)
lines.push('', `Total bench time ${((Date.now() - started) / 1000).toFixed(0)} s (sink ${sink}).`)
console.log(lines.join('\n'))
