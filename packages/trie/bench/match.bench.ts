// Match throughput, hits and misses, TopicTrie vs qlobber configured as Aedes configures it.
import { buildQlobber, buildTrie, ids } from './contestants.ts'
import { fleetSubscriptions, hitTopics, missTopics } from './fleet.ts'
import { assert, consume, fmtOps, fmtSize, rates, type Rate } from './util.ts'

export interface MatchRow { size: number, kind: 'hit' | 'miss', culexArray: Rate, culexCallback: Rate, qlobber: Rate }

const TOPICS = 4096

export function runMatch (sizes: number[]): MatchRow[] {
  const rows: MatchRow[] = []
  for (const n of sizes) {
    const subs = fleetSubscriptions(n)
    const trie = buildTrie(subs)
    const q = buildQlobber(subs)
    for (const kind of ['hit', 'miss'] as const) {
      const topics = kind === 'hit' ? hitTopics(n, TOPICS) : missTopics(TOPICS)
      // equal output before timing
      for (const topic of topics) {
        const ours = trie.match(topic)
        assert(ids(ours) === ids(q.match(topic)), `${topic} at ${n}`)
        assert(kind === 'miss' ? ours.length === 0 : ours.length >= 11, `${topic} expected ${kind}`)
      }
      let i = 0
      let count = 0
      // the callback does not read the record, as qlobber's match does not
      const cb = (): void => { count++ }
      const [culexArray, culexCallback, qlob] = rates([
        () => {
          for (let k = 0; k < 256; k++) consume(trie.match(topics[i++ & (TOPICS - 1)] as string).length)
          return 256
        },
        () => {
          for (let k = 0; k < 256; k++) trie.forEachMatch(topics[i++ & (TOPICS - 1)] as string, cb)
          consume(count)
          return 256
        },
        () => {
          for (let k = 0; k < 256; k++) consume(q.match(topics[i++ & (TOPICS - 1)] as string).length)
          return 256
        }
      ]) as [Rate, Rate, Rate]
      const row = { size: n, kind, culexArray, culexCallback, qlobber: qlob }
      rows.push(row)
      console.error(`match ${fmtSize(n)} ${kind}: culex match ${fmtOps(culexArray)}, forEachMatch ${fmtOps(culexCallback)}, qlobber ${fmtOps(qlob)}`)
    }
  }
  return rows
}
