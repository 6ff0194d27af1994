// Add and remove throughput: build the whole fleet into an empty matcher, then remove it all.
import qlobber from 'qlobber'
import { TopicTrie } from '../src/index.ts'
import { AEDES_QLOBBER_OPTIONS } from './contestants.ts'
import { fleetSubscriptions, type Sub } from './fleet.ts'
import { assert, fmtOps, fmtSize, summarize, time, type Rate } from './util.ts'

export interface AddRemoveRow { size: number, culexAdd: Rate, culexRemove: Rate, qlobberAdd: Rate, qlobberRemove: Rate }

export function runAddRemove (sizes: number[]): AddRemoveRow[] {
  const rows: AddRemoveRow[] = []
  for (const n of sizes) {
    const subs = fleetSubscriptions(n)
    const samples = n >= 1_000_000 ? 2 : 4
    const ca: number[] = []
    const cr: number[] = []
    const qa: number[] = []
    const qr: number[] = []
    for (let s = 0; s < samples + 1; s++) {
      const trie = new TopicTrie<Sub>()
      const tAdd = time(() => { for (const x of subs) trie.add(x.filter, x) })
      assert(trie.size === subs.length, 'culex size after add')
      const tRemove = time(() => { for (const x of subs) trie.remove(x.filter, x) })
      assert(trie.size === 0, 'culex size after remove')
      const q = new qlobber.Qlobber<Sub>(AEDES_QLOBBER_OPTIONS)
      const qAdd = time(() => { for (const x of subs) q.add(x.filter, x) })
      const qRemove = time(() => { for (const x of subs) q.remove(x.filter, x) })
      assert(q.match('fleet/s0/d0/telemetry').length === 0, 'qlobber empty after remove')
      if (s === 0) continue // warm-up
      ca.push(subs.length / tAdd)
      cr.push(subs.length / tRemove)
      qa.push(subs.length / qAdd)
      qr.push(subs.length / qRemove)
    }
    const row = { size: n, culexAdd: summarize(ca), culexRemove: summarize(cr), qlobberAdd: summarize(qa), qlobberRemove: summarize(qr) }
    rows.push(row)
    console.error(`add/remove ${fmtSize(n)}: culex add ${fmtOps(row.culexAdd)} remove ${fmtOps(row.culexRemove)}, qlobber add ${fmtOps(row.qlobberAdd)} remove ${fmtOps(row.qlobberRemove)}`)
  }
  return rows
}
