#!/usr/bin/env node
// Sums the closing `# { total, pass, fail, skip }` line of every tap run in a log (as turbo
// prints them, prefixed by the task name) into one line: "tests: N passed, N failed, N skipped".
import { readFileSync } from 'node:fs'

const text = readFileSync(process.argv[2], 'utf8')
let pass = 0
let fail = 0
let skip = 0
let runs = 0
for (const m of text.matchAll(/# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/g)) {
  runs++
  pass += Number(m[2] ?? 0)
  fail += Number(m[3] ?? 0)
  skip += Number(m[4] ?? 0)
}
console.log(`tap runs summed: ${runs}`)
console.log(`tests: ${pass} passed, ${fail} failed, ${skip} skipped`)
