/**
 * Opening the store chosen with `--store`. Store packages are imported dynamically, so the
 * app starts with `--store memory` even when a store package is missing or not built, and a
 * missing one gives a clear error naming the package instead of a crash at load time.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Bus, Store } from '@culex/broker'
import { AppError } from './errors.ts'
import type { StoreChoice } from './config.ts'

/** An opened store and how to describe it in logs (URL credentials hidden). */
export interface OpenedStore {
  store: Store | undefined
  description: string
}

/** RedisBus options from `--cluster-dead-after`: nodes beat every third of it, at most every second. */
export function busTiming (deadAfterMs: number): { heartbeatMs: number, deadAfterMs: number } {
  return { heartbeatMs: Math.max(1, Math.min(1000, Math.floor(deadAfterMs / 3))), deadAfterMs }
}

/**
 * Open a RedisBus on `url` (cluster mode).
 *
 * @throws AppError CULEX_ERR_STORE
 */
export async function openRedisBus (url: string, nodeId: string | undefined, loader: Loader = defaultLoader, opts: { deadAfterMs?: number, logger?: { warn: (obj: object, msg: string) => void } } = {}): Promise<Bus> {
  const Ctor = await load('@culex/store-redis', 'RedisBus', loader) as unknown as new (opts: Record<string, unknown>) => Bus
  const bus = new Ctor({ url, ...busTiming(opts.deadAfterMs ?? 3000), ...(opts.logger === undefined ? {} : { logger: opts.logger }), ...(nodeId === undefined ? {} : { nodeId }) })
  return await init(bus as unknown as Store, `the cluster bus on ${redactUrl(url)}`) as unknown as Bus
}

type Loader = (specifier: string) => Promise<Record<string, unknown>>

const defaultLoader: Loader = async (specifier) => await import(specifier) as Record<string, unknown>

/**
 * `redis://user:secret@h` → `redis://user:***@h`; also for host lists, which are no WHATWG
 * URL (`redis+cluster://user:secret@h1:1,h2:2`, a MongoDB replica set `mongodb://u:p@h1,h2/db`).
 */
export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return url.replace(/^([^:/]+:\/\/[^:@/]*:)[^@/]*@/, '$1***@')
  }
}

async function load (pkg: string, exportName: string, loader: Loader): Promise<new (opts: Record<string, unknown>) => Store> {
  let mod: Record<string, unknown>
  try {
    mod = await loader(pkg)
  } catch (err) {
    throw new AppError('CULEX_ERR_STORE', `option --store: expected the package ${pkg} to be installed and built, got ${(err as Error).message.split('\n')[0]} (build it with \`npm run build -w ${pkg}\`, or use --store memory)`, { option: 'store', cause: err })
  }
  const Ctor = mod[exportName]
  if (typeof Ctor !== 'function') {
    throw new AppError('CULEX_ERR_STORE', `option --store: expected ${pkg} to export ${exportName}, got ${Object.keys(mod).join(', ') || 'no exports'} (is it built?)`, { option: 'store' })
  }
  return Ctor as new (opts: Record<string, unknown>) => Store
}

async function init (store: Store, what: string): Promise<Store> {
  const s = store as Store & { open?: () => Promise<void>, connect?: () => Promise<void> }
  try {
    if (typeof s.open === 'function') await s.open()
    else if (typeof s.connect === 'function') await s.connect()
  } catch (err) {
    throw new AppError('CULEX_ERR_STORE', `option --store: expected ${what} to open, got ${(err as Error).message}`, { option: 'store', cause: err })
  }
  return store
}

/**
 * Create the store. `memory` returns `store: undefined` (the engine's own MemoryStore).
 *
 * @throws AppError CULEX_ERR_STORE
 */
export async function openStore (choice: StoreChoice, opts: { maxQueuedMessages?: number }, loader: Loader = defaultLoader): Promise<OpenedStore> {
  const common: Record<string, unknown> = {}
  if (opts.maxQueuedMessages !== undefined) common.maxQueuedMessages = opts.maxQueuedMessages
  switch (choice.kind) {
    case 'memory':
      return { store: undefined, description: 'memory' }
    case 'level': {
      const Ctor = await load('@culex/store-level', 'LevelStore', loader)
      try {
        mkdirSync(choice.dataDir, { recursive: true })
      } catch (err) {
        throw new AppError('CULEX_ERR_STORE', `option --data-dir: expected a directory culex can create and write, got ${choice.dataDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { option: 'dataDir', cause: err })
      }
      const store = await init(new Ctor({ ...common, path: choice.dataDir, sync: choice.fsync }), `the level store in ${choice.dataDir}`)
      return { store, description: `level ${choice.dataDir}${choice.fsync ? '' : ' (fsync off)'}` }
    }
    case 'redis': {
      const Ctor = await load('@culex/store-redis', 'RedisStore', loader)
      const store = await init(new Ctor({ ...common, url: choice.url }), `redis at ${redactUrl(choice.url)}`)
      return { store, description: `redis ${redactUrl(choice.url)}` }
    }
    case 'mongo': {
      const Ctor = await load('@culex/store-mongo', 'MongoStore', loader)
      const store = await init(new Ctor({ ...common, url: choice.url }), `mongodb at ${redactUrl(choice.url)}`)
      return { store, description: `mongodb ${redactUrl(choice.url)}` }
    }
  }
}

/**
 * The broker node id when `--node-id` is not given. It owns the wills of its connections in
 * the store, and at start the broker publishes the wills its earlier run left (those
 * connections died with it), so it must survive a restart:
 * - level store: kept in `<data-dir>/node-id` (created at the first start);
 * - redis or mongodb store without --cluster: `culex-<hostname>`;
 * - --cluster: kept in `<nodeIdDir>/node-id` (--data-dir; the config refuses --cluster with
 *   neither --node-id nor --data-dir), undefined without `nodeIdDir`;
 * - memory store: undefined (nothing survives a restart anyway).
 *
 * @throws AppError CULEX_ERR_STORE when the node-id file cannot be read or written
 */
export function defaultNodeId (choice: StoreChoice, cluster: boolean, nodeIdDir?: string): string | undefined {
  if (cluster) {
    if (nodeIdDir === undefined) return undefined
    try {
      mkdirSync(nodeIdDir, { recursive: true })
    } catch (err) {
      throw new AppError('CULEX_ERR_STORE', `option --data-dir: expected a directory culex can create and write, got ${nodeIdDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { option: 'dataDir', cause: err })
    }
    return persistedNodeId(nodeIdDir)
  }
  if (choice.kind === 'memory') return undefined
  if (choice.kind !== 'level') return `culex-${hostname()}`
  return persistedNodeId(choice.dataDir)
}

/** The id kept in `<dir>/node-id`, written there at the first start. */
function persistedNodeId (dir: string): string {
  const file = join(dir, 'node-id')
  try {
    const id = readFileSync(file, 'utf8').trim()
    if (id !== '') return id
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AppError('CULEX_ERR_STORE', `option --data-dir: expected to read ${file}, got ${(err as Error).message}`, { option: 'dataDir', cause: err })
    }
  }
  const id = `culex-${randomUUID()}`
  try {
    writeFileSync(file, id + '\n')
  } catch (err) {
    throw new AppError('CULEX_ERR_STORE', `option --data-dir: expected to write ${file}, got ${(err as Error).message}`, { option: 'dataDir', cause: err })
  }
  return id
}
