#!/usr/bin/env node
// Sums the closing `# { total, pass, fail, skip }` line of every tap run in a log (as turbo
// prints them, prefixed by the task name) into one line: "tests: N passed, N failed, N skipped".
// Before that line it repeats every failed assertion with its diagnostic block, so the end
// of a long CI log says what failed and where without scrolling back through thousands of
// passing lines.
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

// `<task>: <indent>not ok N - name` opens a failure; its YAML block runs from `---` to `...`
// at a deeper indent. Parent subtests are named by `# Subtest: name` lines at a shallower
// indent, which are tracked per task so an interleaved turbo log still reads right.
const failures = []
const parents = new Map() // task -> [{ indent, name }]
const lines = text.split('\n')
for (let i = 0; i < lines.length; i++) {
  const m = /^(\S+: )?(\s*)(# Subtest: (.*)|not ok \d+ - (.*))$/.exec(lines[i])
  if (m === null) continue
  const task = m[1] ?? ''
  const indent = m[2].length
  const stack = parents.get(task) ?? []
  while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop()
  if (m[4] !== undefined) {
    stack.push({ indent, name: m[4] })
    parents.set(task, stack)
    continue
  }
  const block = []
  for (let j = i + 1; j < lines.length && block.length < 40; j++) {
    if (!lines[j].startsWith(task)) continue
    const body = lines[j].slice(task.length)
    if (block.length === 0 && !/^\s*---\s*$/.test(body)) break
    block.push(body)
    if (/^\s*\.\.\.\s*$/.test(body)) break
  }
  const path = [...stack.map((s) => s.name), m[5].replace(/ # time=[\d.]+m?s$/, '')].join(' > ')
  // A subtest fails when one of its assertions does; those were listed already, just above.
  const prev = failures[failures.length - 1]
  if (prev !== undefined && prev.task === task && prev.path.startsWith(path + ' > ')) {
    continue
  }
  failures.push({ task, path, block })
}

// Tasks that failed without a failing assertion (typecheck, lint, build) are named by turbo
// in its closing `Failed:` line; TypeScript errors are repeated as they were printed.
const tsErrors = [...new Set(text.split('\n').filter((l) => /error TS\d+:/.test(l)))]
const failedTasks = [...text.matchAll(/^\s*Failed:\s+(.+)$/gm)].map((m) => m[1].trim())
const lint = /^✖ \d+ problems?.*$/m.exec(text)
if (lint !== null) console.log(`eslint: ${lint[0].slice(2)} (npm run lint)`)
if (failedTasks.length > 0) console.log(`failed tasks: ${failedTasks.join(', ')}`)
for (const l of tsErrors.slice(0, 40)) console.log(`  ${l}`)

if (failures.length > 0) {
  console.log(`failed assertions: ${failures.length}`)
  for (const f of failures) {
    console.log(`- ${f.task}${f.path}`)
    for (const b of f.block) console.log(`    ${b}`)
  }
}
console.log(`tap runs summed: ${runs}`)
console.log(`tests: ${pass} passed, ${fail} failed, ${skip} skipped`)
