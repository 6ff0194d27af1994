/**
 * Culex + LevelStore against aedes 1.2.0 + aedes-persistence-level 9.2.0 (on classic-level),
 * through whole brokers over TCP (see @culex/store-suite bench.ts for the phases).
 * Run: npm run bench:broker -w @culex/store-level   (env N, R change the sizes)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { ClassicLevel } from 'classic-level'
import { aedesContestant, benchTable, culexContestant, runPersistenceBench } from '@culex/store-suite/bench'
import { LevelStore } from '../src/index.ts'

const require = createRequire(new URL('../../../apps/bench/package.json', import.meta.url))
const aedesPersistenceLevel = require('aedes-persistence-level') as (db: unknown) => unknown
const n = Number(process.env.N ?? 20000)
const r = Number(process.env.R ?? 100000)
const root = await mkdtemp(join(tmpdir(), 'culex-level-broker-bench-'))
try {
  const results = await runPersistenceBench([
    culexContestant('Culex + LevelStore (sync: true)', async (max) => new LevelStore({ path: join(root, 'culex-sync'), maxQueuedMessages: max })),
    culexContestant('Culex + LevelStore (sync: false)', async (max) => new LevelStore({ path: join(root, 'culex-nosync'), sync: false, maxQueuedMessages: max })),
    aedesContestant('aedes + aedes-persistence-level', async () => aedesPersistenceLevel(new ClassicLevel(join(root, 'aedes'))))
  ], n, r)
  console.log(benchTable(results, n, r))
} finally {
  await rm(root, { recursive: true, force: true })
}
