// Child process for one heap measurement: `node --expose-gc --import tsx bench/heap-child.ts
// <culex|qlobber> <n>`. Prints JSON { bytesPerSub, subs } on stdout. Subscription records
// and filter strings are created before the baseline, so only the index itself is counted.
import { buildQlobber, buildTrie } from './contestants.ts'
import { fleetSubscriptions } from './fleet.ts'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')
const [contestant, nArg] = process.argv.slice(2)
const subs = fleetSubscriptions(Number(nArg))
const settle = (): number => {
  for (let i = 0; i < 4; i++) gc()
  return process.memoryUsage().heapUsed
}
const before = settle()
const index: unknown = contestant === 'qlobber' ? buildQlobber(subs) : buildTrie(subs)
const after = settle()
process.stdout.write(JSON.stringify({ bytesPerSub: (after - before) / subs.length, subs: subs.length, alive: index !== null }) + '\n')
