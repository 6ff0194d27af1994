// The matchers under test, built from the same subscription records.
import qlobber, { type Qlobber } from 'qlobber'
import { TopicTrie } from '../src/index.ts'
import type { Sub } from './fleet.ts'

// Exactly how Aedes builds its router: mqemitter 7 creates
// `new Qlobber({ match_empty_levels: true, separator: '/', wildcard_one: '+', wildcard_some: '#' })`
// (aedes 1.2.0 passes matchEmptyLevels: true, see node_modules/aedes/aedes.js and
// node_modules/mqemitter/mqemitter.js).
export const AEDES_QLOBBER_OPTIONS = { match_empty_levels: true, separator: '/', wildcard_one: '+', wildcard_some: '#' }

export function buildQlobber (subs: Sub[]): Qlobber<Sub> {
  const q = new qlobber.Qlobber<Sub>(AEDES_QLOBBER_OPTIONS)
  for (const s of subs) q.add(s.filter, s)
  return q
}

export function buildTrie (subs: Sub[]): TopicTrie<Sub> {
  const t = new TopicTrie<Sub>()
  for (const s of subs) t.add(s.filter, s)
  return t
}

export function ids (subs: Iterable<Sub>): string {
  return [...subs].map(s => s.clientId).sort().join(',')
}
