/**
 * `npm run bench -w @culex/packet`: parse and encode, @culex/packet vs mqtt-packet, same
 * input, same process. `--markdown` prints the tables in the form used in the README.
 */
import { encodeCases, runEncode } from './encode.bench.ts'
import { parseCases, runParse } from './parse.bench.ts'
import { sink } from './util.ts'

const md = process.argv.includes('--markdown')
const fmt = (n: number): string => n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`
const kib = (n: number): string => n === 65536 ? '64 KiB' : `${n} B`

console.log(`node ${process.version}, ${process.platform} ${process.arch}`)
console.log('\n## parse\n')
console.log('| input | v | chunks | @culex/packet pkt/s | MB/s | mqtt-packet pkt/s | MB/s | ratio | payload views |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (const c of parseCases()) {
  const r = runParse(c)
  const [a, b] = r.results as [typeof r.results[0], typeof r.results[0]]
  console.log(`| ${r.name} | ${r.version} | ${kib(r.chunkSize)} | ${fmt(a.packetsPerSec)} ±${a.rsd.toFixed(1)}% | ${a.mbPerSec.toFixed(0)} | ${fmt(b.packetsPerSec)} ±${b.rsd.toFixed(1)}% | ${b.mbPerSec.toFixed(0)} | **${(a.packetsPerSec / b.packetsPerSec).toFixed(2)}×** | ${r.payloadViews} |`)
}
console.log('\n## encode\n')
console.log('| input | v | @culex/packet pkt/s | MB/s | mqtt-packet pkt/s | MB/s | ratio | same bytes |')
console.log('|---|---|---|---|---|---|---|---|')
for (const c of encodeCases()) {
  const r = runEncode(c)
  const [a, b] = r.results as [typeof r.results[0], typeof r.results[0]]
  console.log(`| ${r.name} | ${r.version} | ${fmt(a.packetsPerSec)} ±${a.rsd.toFixed(1)}% | ${a.mbPerSec.toFixed(0)} | ${fmt(b.packetsPerSec)} ±${b.rsd.toFixed(1)}% | ${b.mbPerSec.toFixed(0)} | **${(a.packetsPerSec / b.packetsPerSec).toFixed(2)}×** | ${r.sameBytes ? 'yes' : 'no'} |`)
}
if (!md) console.log(`\n(sink: ${sink.bytes} bytes)`)
