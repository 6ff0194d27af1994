/**
 * Mosca's persistence factories (`mosca.persistence.Memory`, `LevelUp`, `Redis`, `Mongo`),
 * each opening the matching Culex store, and the `ttl` mapping:
 * - `ttl.subscriptions` (ms) → the longest session expiry (a disconnected persistent
 *   session and its subscriptions are gone after it);
 * - `ttl.packets` (ms) → a message expiry on every message queued for a session that has
 *   none of its own (an offline message older than it is not delivered).
 * Mosca applied one hour to both when `ttl` was not given; so do we.
 *
 * Store packages are imported when used, so only the ones a setting names must be installed.
 */
import { MemoryStore, type Store, type StoredMessage, type Bus } from '@culex/broker'
import { MoscaError } from './errors.ts'

/** The `persistence` setting of Mosca. */
export interface PersistenceSettings {
  /** One of `persistence.Memory | LevelUp | Redis | Mongo`, or its name ('memory', 'levelup', 'redis', 'mongo'). */
  factory: PersistenceFactory | string
  /** Milliseconds; defaults one hour each (as Mosca). */
  ttl?: { subscriptions?: number, packets?: number }
  /** LevelUp: the database directory. */
  path?: string
  /** Redis / Mongo: connection URL (Redis also accepts `host:port`). */
  url?: string
  /** Redis: host, port, db, password. */
  host?: string
  port?: number
  db?: number
  password?: string
  /** Mosca's `storeMessagesQos0` and other fields are accepted and ignored. */
  [key: string]: unknown
}

/** What a factory produces. */
export interface OpenedPersistence {
  store: Store
  /** Session expiry cap, seconds (from ttl.subscriptions). */
  maxSessionExpiryInterval: number
  description: string
}

/** A persistence factory: opens a Culex store from Mosca's persistence settings. */
export type PersistenceFactory = ((settings: PersistenceSettings) => Promise<Store>) & { readonly moscaName: string }

const HOUR = 60 * 60 * 1000

async function load (pkg: string): Promise<Record<string, unknown>> {
  try {
    return await import(pkg) as Record<string, unknown>
  } catch (err) {
    throw new MoscaError('MOSCA_ERR_PACKAGE', `expected the package ${pkg} to be installed (npm install ${pkg}), got ${(err as Error).message.split('\n')[0]}`, { cause: err })
  }
}

async function open<T> (obj: T): Promise<T> {
  const o = obj as T & { open?: () => Promise<void> }
  if (typeof o.open === 'function') await o.open()
  return obj
}

function factory (name: string, fn: (settings: PersistenceSettings) => Promise<Store>): PersistenceFactory {
  return Object.assign(fn, { moscaName: name })
}

/** Redis connection settings (`url`, or `host`/`port`/`db`/`password`) as a redis:// URL. */
export function redisUrl (s: { url?: unknown, host?: unknown, port?: unknown, db?: unknown }): string {
  if (typeof s.url === 'string') return s.url.includes('://') ? s.url : `redis://${s.url}`
  const host = typeof s.host === 'string' ? s.host : '127.0.0.1'
  const port = typeof s.port === 'number' || typeof s.port === 'string' ? String(s.port) : '6379'
  const db = typeof s.db === 'number' ? `/${s.db}` : ''
  return `redis://${host}:${port}${db}`
}

/** Mosca's persistence factories, opening Culex stores. */
export const persistence = {
  /** In memory (`MemoryStore`): nothing survives a restart. */
  Memory: factory('memory', async () => new MemoryStore()),
  /** LevelUp → `LevelStore` (`@culex/store-level`) in `path`. */
  LevelUp: factory('levelup', async (s) => {
    if (typeof s.path !== 'string') throw new MoscaError('MOSCA_ERR_SETTINGS', `persistence.path: expected the directory of the LevelDB database, got ${String(s.path)}`)
    const { LevelStore } = await load('@culex/store-level') as { LevelStore: new (o: { path: string }) => Store }
    return await open(new LevelStore({ path: s.path }))
  }),
  /** Redis → `RedisStore` (`@culex/store-redis`) at `url` or `host`/`port`/`db`, with `password`. */
  Redis: factory('redis', async (s) => {
    const { RedisStore } = await load('@culex/store-redis') as { RedisStore: new (o: Record<string, unknown>) => Store }
    return await open(new RedisStore({ url: redisUrl(s), ...(typeof s.password === 'string' ? { password: s.password } : {}) }))
  }),
  /** MongoDB → `MongoStore` (`@culex/store-mongo`) at `url`. */
  Mongo: factory('mongo', async (s) => {
    if (typeof s.url !== 'string') throw new MoscaError('MOSCA_ERR_SETTINGS', `persistence.url: expected a mongodb:// URL, got ${String(s.url)}`)
    const { MongoStore } = await load('@culex/store-mongo') as { MongoStore: new (o: { url: string }) => Store }
    return await open(new MongoStore({ url: s.url }))
  }),
  /** The factory of a name, as Mosca's `persistence.getFactory`. */
  getFactory (name: string): PersistenceFactory | undefined {
    switch (name.toLowerCase()) {
      case 'memory': return persistence.Memory
      case 'levelup': case 'level': return persistence.LevelUp
      case 'redis': return persistence.Redis
      case 'mongo': case 'mongodb': return persistence.Mongo
      default: return undefined
    }
  }
}

/** Check the `persistence` setting without opening anything (constructor-time errors). */
export function resolveFactory (s: PersistenceSettings): PersistenceFactory {
  const f = typeof s.factory === 'string' ? persistence.getFactory(s.factory) : s.factory
  if (typeof f !== 'function' || typeof (f as Partial<PersistenceFactory>).moscaName !== 'string') {
    throw new MoscaError('MOSCA_ERR_SETTINGS', `persistence.factory: expected one of persistence.Memory, persistence.LevelUp, persistence.Redis, persistence.Mongo (or 'memory', 'levelup', 'redis', 'mongo'), got ${typeof s.factory === 'function' ? `a function ${(s.factory as { name?: string }).name ?? ''}` : String(s.factory)}`)
  }
  for (const k of ['subscriptions', 'packets'] as const) {
    const v = s.ttl?.[k]
    if (v !== undefined && (typeof v !== 'number' || !(v > 0))) throw new MoscaError('MOSCA_ERR_SETTINGS', `persistence.ttl.${k}: expected milliseconds > 0, got ${String(v)}`)
  }
  return f
}

/** Open the store of the `persistence` setting, with `ttl.packets` applied to queued messages. */
export async function openPersistence (s: PersistenceSettings): Promise<OpenedPersistence> {
  const f = resolveFactory(s)
  const store = await f(s)
  const packets = s.ttl?.packets ?? HOUR
  const subscriptions = s.ttl?.subscriptions ?? HOUR
  return {
    store: withPacketTtl(store, packets),
    maxSessionExpiryInterval: Math.max(1, Math.ceil(subscriptions / 1000)),
    description: f.moscaName
  }
}

/**
 * The store, except that a message queued for a session without an expiry of its own gets
 * one `ttlMs` from now. Everything else goes straight to the store.
 */
export function withPacketTtl (store: Store, ttlMs: number): Store {
  const stamp = (m: StoredMessage): StoredMessage => m.expiresAt !== undefined ? m : { ...m, expiresAt: Date.now() + ttlMs }
  const enqueue: Store['enqueue'] = (clientId, message, ids, sent) => store.enqueue(clientId, stamp(message), ids, sent)
  const enqueueMany: Store['enqueueMany'] = (entries, message) => store.enqueueMany(entries, stamp(message))
  return new Proxy(store, {
    get (target, prop) {
      if (prop === 'enqueue') return enqueue
      if (prop === 'enqueueMany') return enqueueMany
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
}

/** The `backend` setting of Mosca (an Ascoltatori definition). */
export interface BackendSettings {
  type?: string
  url?: string
  host?: string
  port?: number
  db?: number
  password?: string
  [key: string]: unknown
}

/** Check the `backend` setting: only Redis (→ RedisBus) and memory are supported. */
export function checkBackend (b: BackendSettings | undefined): 'memory' | 'redis' {
  if (b === undefined || b === null) return 'memory'
  if (typeof b !== 'object') throw new MoscaError('MOSCA_ERR_SETTINGS', `backend: expected an object, got ${String(b)}`)
  const type = b.type ?? 'memory'
  if (type === 'redis') return 'redis'
  if (type === 'memory') return 'memory'
  throw new MoscaError('MOSCA_ERR_SETTINGS', `backend.type: ${JSON.stringify(type)} is not supported by @culex/mosca; supported: 'redis' (a Culex cluster over RedisBus from @culex/store-redis) and 'memory' (one process). Ascoltatori backends (mongodb, amqp, zmq, mqtt, kafka) have no Culex equivalent`)
}

/** Open the RedisBus of a Redis `backend`. */
export async function openBus (b: BackendSettings, nodeId: string | undefined): Promise<Bus> {
  const { RedisBus } = await load('@culex/store-redis') as { RedisBus: new (o: Record<string, unknown>) => Bus }
  return await open(new RedisBus({
    url: redisUrl(b),
    ...(typeof b.password === 'string' ? { password: b.password } : {}),
    ...(nodeId === undefined ? {} : { nodeId })
  }))
}
