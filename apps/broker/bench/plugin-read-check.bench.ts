// Per-delivery read check of the plugins (jwt-auth subscribe claims, http-auth grants):
// matching a topic against filters split once (levelsMatch, kept) vs filterMatches, which
// splits filter and topic on every call (the loser, kept for comparison).
// Run: npx tsx apps/broker/bench/plugin-read-check.bench.ts
import { filterMatches } from '../src/topic-match.ts'
import { levelsMatch } from '../src/plugins/options.ts'

const filters = ['a/+/c', 'sensors/#', 'cmd/dev/+']
const levels = filters.map(f => f.split('/'))
const topics = ['sensors/room1/temp', 'cmd/dev/reboot', 'other/topic/here']

const split = (topic: string): boolean => filters.some(f => filterMatches(f, topic))
const presplit = (topic: string): boolean => {
  for (let i = 0; i < levels.length; i++) if (levelsMatch(levels[i]!, topic)) return true
  return false
}
for (const tp of topics) if (split(tp) !== presplit(tp)) throw new Error(`contestants disagree on ${tp}`)

function bench (name: string, f: (topic: string) => boolean, n = 3_000_000): number {
  let sink = 0
  for (let i = 0; i < 200_000; i++) if (f(topics[i % 3]!)) sink++
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) if (f(topics[i % 3]!)) sink++
  const ns = Number(process.hrtime.bigint() - t0) / n
  console.log(`${name.padEnd(40)} ${ns.toFixed(1).padStart(8)} ns/check  (sink ${sink})`)
  return ns
}
const a = bench('filterMatches (split per call)', split)
const b = bench('levelsMatch (filters split once)', presplit)
console.log(`levelsMatch is ${(a / b).toFixed(1)}x faster`)
