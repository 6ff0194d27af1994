// `npm run bench:matches -w @culex/trie`: `matches(filter, topic)` against the matchers it
// replaced, in one process, same inputs, interleaved samples (bench/util.ts `rates`).
//
// - one pair at a time (the client's `MessageStream` and the bridge test each incoming
//   message against a few filters): `matches` vs the client's former `matchTopic` (char
//   codes, kept below as it was) vs the former store-suite `matches` (a `RetainedIndex` per
//   pair) vs a split-based matcher;
// - a store's retained candidates (the topics of a prefix scan, 1000 here) against one
//   filter: `topics.filter(t => matches(filter, t))` vs the stores' former `matchAll` (one
//   `RetainedIndex` filled with the candidates, then walked).
import { RetainedIndex, matches } from '../src/index.ts'
import { consume, fmtOps, rates, sink } from './util.ts'

// ── the replaced matchers, kept as they were ─────────────────────────────────────────────
const SLASH = 47
const PLUS = 43
const HASH = 35
const DOLLAR = 36
function clientMatchTopic (filter: string, topic: string): boolean {
  const fn = filter.length
  const tn = topic.length
  if (tn > 0 && topic.charCodeAt(0) === DOLLAR && fn > 0) {
    const f0 = filter.charCodeAt(0)
    if (f0 === PLUS || f0 === HASH) return false
  }
  let fi = 0
  let ti = 0
  while (fi < fn) {
    const c = filter.charCodeAt(fi)
    if (c === HASH) return true
    if (c === PLUS) {
      while (ti < tn && topic.charCodeAt(ti) !== SLASH) ti++
      fi++
    } else {
      if (ti >= tn || topic.charCodeAt(ti) !== c) {
        return ti === tn && c === SLASH && fi + 2 === fn && filter.charCodeAt(fi + 1) === HASH
      }
      fi++
      ti++
    }
  }
  return ti === tn
}
function suiteMatches (filter: string, topic: string): boolean {
  const index = new RetainedIndex<true>()
  index.set(topic, true)
  return index.matchFilter(filter).length === 1
}
function splitMatches (filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}
function storeMatchAll (filter: string, topics: string[]): string[] {
  const index = new RetainedIndex<string>()
  for (const t of topics) index.set(t, t)
  return index.matchFilter(filter)
}

// ── inputs ───────────────────────────────────────────────────────────────────────────────
const filters = ['fleet/+/d7/telemetry', 'fleet/s42/#', 'fleet/s42/d7/telemetry', '#', '+/s1/+/status', '$SYS/broker/+']
const topics: string[] = []
for (let s = 0; s < 10; s++) for (let d = 0; d < 10; d++) topics.push(`fleet/s${s * 11}/d${d}/telemetry`, `fleet/s${s}/d${d}/status`)
topics.push('$SYS/broker/uptime', 'fleet', 'fleet/s42')
const pairs: Array<[string, string]> = []
for (const f of filters) for (const t of topics) pairs.push([f, t])

const candidates: string[] = []
for (let s = 0; s < 10; s++) for (let d = 0; d < 100; d++) candidates.push(`fleet/s${s}/d${d}/${d % 2 === 0 ? 'telemetry' : 'status'}`)
const scanFilters = ['fleet/+/+/status', 'fleet/s3/#', 'fleet/+/d8/telemetry']

// ── same answers before timing ───────────────────────────────────────────────────────────
let hits = 0
for (const [f, t] of pairs) {
  const want = matches(f, t)
  if (clientMatchTopic(f, t) !== want || suiteMatches(f, t) !== want || splitMatches(f, t) !== want) throw new Error(`disagree on ${f} ~ ${t}`)
  if (want) hits++
}
for (const f of scanFilters) {
  const a = candidates.filter((t) => matches(f, t)).sort()
  const b = storeMatchAll(f, candidates).sort()
  if (a.join('\n') !== b.join('\n') || a.length === 0) throw new Error(`scan disagrees on ${f}`)
}

function pairBatch (fn: (f: string, t: string) => boolean): () => number {
  return () => {
    let n = 0
    for (let i = 0; i < pairs.length; i++) { const p = pairs[i] as [string, string]; if (fn(p[0], p[1])) n++ }
    consume(n)
    return pairs.length
  }
}
function scanBatch (fn: (f: string, ts: string[]) => string[]): () => number {
  return () => {
    for (const f of scanFilters) consume(fn(f, candidates).length)
    return scanFilters.length
  }
}

const [m, c, s, sp] = rates([pairBatch(matches), pairBatch(clientMatchTopic), pairBatch(suiteMatches), pairBatch(splitMatches)])
const [fm, ma] = rates([scanBatch((f, ts) => ts.filter((t) => matches(f, t))), scanBatch(storeMatchAll)])
const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`
console.log(`Node ${process.version}. ${pairs.length} (filter, topic) pairs, ${hits} matching; ${candidates.length} scan candidates.\n`)
console.log('| one pair | checks/s | `matches` ÷ this |')
console.log('|---|---|---|')
console.log(`| \`matches\` (@culex/trie) | ${fmtOps(m!)} | 1.00× |`)
console.log(`| client's former \`matchTopic\` | ${fmtOps(c!)} | ${x(m!.opsPerSec, c!.opsPerSec)} |`)
console.log(`| store-suite's former \`matches\` (RetainedIndex per pair) | ${fmtOps(s!)} | ${x(m!.opsPerSec, s!.opsPerSec)} |`)
console.log(`| split on \`/\` | ${fmtOps(sp!)} | ${x(m!.opsPerSec, sp!.opsPerSec)} |`)
console.log('\n| 1000 retained candidates, one filter | scans/s | ratio |')
console.log('|---|---|---|')
console.log(`| \`candidates.filter(t => matches(f, t))\` | ${fmtOps(fm!)} | 1.00× |`)
console.log(`| stores' former \`matchAll\` (RetainedIndex of the candidates) | ${fmtOps(ma!)} | ${x(fm!.opsPerSec, ma!.opsPerSec)} |`)
console.log(`\n(sink ${sink})`)
