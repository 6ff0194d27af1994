// Candidates for finding topic level ends in the match walk, kept with their numbers
// (`npx tsx bench/scan.bench.ts`, not part of run.ts). The walk uses indexOf.
import { hitTopics } from './fleet.ts'
import { assert, consume, fmtOps, rates } from './util.ts'

const SLASH = 47

function endsIndexOf (topic: string, ends: number[]): number {
  let n = 0
  let pos = 0
  for (;;) {
    const end = topic.indexOf('/', pos)
    if (end === -1) break
    ends[n++] = end
    pos = end + 1
  }
  ends[n++] = topic.length
  return n
}

function endsCharCodeAt (topic: string, ends: number[]): number {
  let n = 0
  const len = topic.length
  for (let i = 0; i < len; i++) {
    if (topic.charCodeAt(i) === SLASH) ends[n++] = i
  }
  ends[n++] = len
  return n
}

function endsSplit (topic: string, ends: number[]): number {
  const words = topic.split('/')
  let pos = -1
  for (let i = 0; i < words.length; i++) {
    pos += (words[i] as string).length + 1
    ends[i] = pos
  }
  return words.length
}

const topics = hitTopics(100_000, 4096)
const a: number[] = []
const b: number[] = []
for (const topic of topics) {
  const n = endsIndexOf(topic, a)
  assert(n === endsCharCodeAt(topic, b) && a.slice(0, n).join() === b.slice(0, n).join(), topic)
  assert(n === endsSplit(topic, b) && a.slice(0, n).join() === b.slice(0, n).join(), topic)
}
const candidates = { indexOf: endsIndexOf, charCodeAt: endsCharCodeAt, split: endsSplit }
let i = 0
const results = rates(Object.values(candidates).map(f => () => {
  for (let k = 0; k < 1024; k++) consume(f(topics[i++ & 4095] as string, a))
  return 1024
}))
Object.keys(candidates).forEach((name, k) => { console.log(`${name}: ${fmtOps(results[k] as { opsPerSec: number, rsd: number })} topics/s`) })
