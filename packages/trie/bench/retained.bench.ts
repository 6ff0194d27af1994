// Retained lookup: RetainedIndex's filter walk vs the full scan Aedes' in-memory persistence
// does (aedes-persistence asyncPersistence.js `retainedMessagesByPattern`: one QlobberTrue
// holding the filter, tested against every retained topic of a Map).
import qlobber from 'qlobber'
import { RetainedIndex } from '../src/index.ts'
import { rng } from './fleet.ts'
import { assert, consume, fmtOps, fmtSize, rate, type Rate } from './util.ts'

export interface RetainedRow { size: number, filter: string, results: number, walk: Rate, scan: Rate }

export function runRetained (n: number, filters: string[]): RetainedRow[] {
  const sites = Math.ceil(n / 100)
  const index = new RetainedIndex<{ topic: string }>()
  const map = new Map<string, { topic: string }>()
  for (let s = 0; s < sites; s++) {
    for (let d = 0; d < 100 && map.size < n; d++) {
      const topic = `fleet/s${s}/d${d}/status`
      const packet = { topic }
      index.set(topic, packet)
      map.set(topic, packet)
    }
  }
  assert(index.size === map.size, 'retained sizes')
  const rows: RetainedRow[] = []
  const r = rng(3)
  for (const filter of filters) {
    const q = new qlobber.QlobberTrue({ wildcard_one: '+', wildcard_some: '#', separator: '/' })
    q.add(filter)
    const scan = (): number => {
      let found = 0
      for (const [topic] of map) if (q.test(topic)) found++
      return found
    }
    const walked = index.matchFilter(filter).map(p => p.topic).sort()
    const scanned = [...map.keys()].filter(topic => q.test(topic)).sort()
    assert(walked.join('\n') === scanned.join('\n'), `retained ${filter}`)
    let sinkCount = 0
    const cb = (): void => { sinkCount++ }
    const walk = rate(() => {
      for (let k = 0; k < 16; k++) index.forEachMatch(filter, cb)
      consume(sinkCount)
      return 16
    })
    const full = rate(() => { consume(scan()); return 1 }, 3, 250)
    const row = { size: map.size, filter, results: walked.length, walk, scan: full }
    rows.push(row)
    console.error(`retained ${fmtSize(map.size)} ${filter} (${walked.length} results): walk ${fmtOps(walk)}, full scan ${fmtOps(full)}, ratio ${(walk.opsPerSec / full.opsPerSec).toFixed(0)}x`)
    consume(Math.floor(r() * 2))
  }
  return rows
}
