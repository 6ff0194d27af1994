// The default broker node id: stable across restarts for the level store (kept in the data
// directory), host-based for redis/mongodb, none for memory and cluster mode.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { busTiming, defaultNodeId } from '../src/stores.ts'

t.test('level: created once in <data-dir>/node-id, then reused', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-node-id-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const choice = { kind: 'level' as const, dataDir: dir, fsync: true }
  const first = defaultNodeId(choice, false)
  t.match(first, /^culex-[0-9a-f-]{36}$/)
  t.equal(readFileSync(join(dir, 'node-id'), 'utf8').trim(), first, 'written to the data directory')
  t.equal(defaultNodeId(choice, false), first, 'the same id at the next start')
  writeFileSync(join(dir, 'node-id'), 'my-node\n')
  t.equal(defaultNodeId(choice, false), 'my-node', 'an id edited into the file is used')
})

t.test('other stores and cluster mode', async t => {
  t.equal(defaultNodeId({ kind: 'memory' }, false), undefined)
  t.equal(defaultNodeId({ kind: 'redis', url: 'redis://h' }, false), `culex-${hostname()}`)
  t.equal(defaultNodeId({ kind: 'mongo', url: 'mongodb://h/db' }, false), `culex-${hostname()}`)
  t.equal(defaultNodeId({ kind: 'redis', url: 'redis://h' }, true), undefined, 'cluster without a directory: none (the config requires --node-id then)')
})

t.test('cluster: kept in <data-dir>/node-id (the directory created), the same at the next start', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-node-id-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const nodeDir = join(dir, 'a', 'b')
  const choice = { kind: 'redis' as const, url: 'redis://h' }
  const first = defaultNodeId(choice, true, nodeDir)
  t.match(first, /^culex-[0-9a-f-]{36}$/)
  t.equal(readFileSync(join(nodeDir, 'node-id'), 'utf8').trim(), first)
  t.equal(defaultNodeId(choice, true, nodeDir), first, 'stable across restarts')
  writeFileSync(join(dir, 'file'), '')
  t.throws(() => defaultNodeId(choice, true, join(dir, 'file', 'x')), { code: 'CULEX_ERR_STORE', message: /--data-dir/ }, 'a directory that cannot be created')
})

t.test('the RedisBus timing of --cluster-dead-after: a beat every third, at most every second', async t => {
  t.same(busTiming(3000), { heartbeatMs: 1000, deadAfterMs: 3000 })
  t.same(busTiming(30_000), { heartbeatMs: 1000, deadAfterMs: 30_000 })
  t.same(busTiming(300), { heartbeatMs: 100, deadAfterMs: 300 })
  t.same(busTiming(1000), { heartbeatMs: 333, deadAfterMs: 1000 })
})

t.test('an unreadable or unwritable node-id file is a clear error', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-node-id-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'node-id')) // a directory where the file should be
  t.throws(() => defaultNodeId({ kind: 'level', dataDir: dir, fsync: true }, false), { code: 'CULEX_ERR_STORE', message: /expected to read .*node-id/ })
  t.throws(() => defaultNodeId({ kind: 'level', dataDir: join(dir, 'missing'), fsync: true }, false), { code: 'CULEX_ERR_STORE', message: /expected to write .*node-id/ })
})
