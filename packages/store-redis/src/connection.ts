/**
 * Building the ioredis connection: URL or options, password and TLS passed through, and
 * the settings that keep every command bounded in time while Redis is away. A standalone
 * server gets an ioredis `Redis`; a Redis Cluster (`cluster` option or a
 * `redis+cluster://` URL) an ioredis `Cluster` with the same bounds.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { RedisStoreError } from './errors.ts'

/** One node of a Redis Cluster. */
export interface RedisClusterNode { host: string, port: number }

/** Where a Redis Cluster is, and how to talk to it. */
export interface RedisClusterOptions {
  /**
   * Startup nodes, `host:port` strings or `{ host, port }`: one reachable node is enough, the
   * others are discovered (CLUSTER SLOTS).
   */
  nodes: Array<string | RedisClusterNode>
  /** ioredis `ClusterOptions` (natMap, scaleReads, …); merged last. */
  options?: ClusterOptions
}

/** Connection options shared by {@link RedisStore} and {@link RedisBus}. */
export interface RedisConnectionOptions {
  /**
   * `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS); for a Redis Cluster
   * `redis+cluster://[user:password@]host:port[,host:port…]` or `rediss+cluster://…` (the
   * startup nodes, same as the `cluster` option).
   */
  url?: string
  /**
   * ioredis options (host, port, username, password, tls, db, sentinels, …); merged after
   * `url`. On a Cluster: the options of every node connection (`redisOptions`).
   */
  redis?: RedisOptions
  /** Password (AUTH); overrides the URL's. */
  password?: string
  /** TLS options for `tls.connect` (e.g. `{ ca, servername }`); `rediss://` implies `{}`. */
  tls?: RedisOptions['tls']
  /**
   * Longest wait for one command, ms, including time queued while reconnecting. Default 5000.
   * A command that times out rejects with STORE_REDIS_ERR_UNAVAILABLE.
   */
  commandTimeout?: number
  /** Connect to a Redis Cluster instead of one server (or use a `redis+cluster://` URL). */
  cluster?: RedisClusterOptions
}

/** A standalone client or a Cluster client: the same commands. */
export type RedisClient = Redis | Cluster

/** A Redis Cluster after parsing the options: startup nodes and per-node options. */
interface ClusterSpec { nodes: RedisClusterNode[], node: RedisOptions }

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(.*)$/i
const CLUSTER_URL_FORM = 'redis+cluster://[user:password@]host:port[,host:port…] or rediss+cluster://…'

/** The URL with its password replaced by `***` (for messages). */
export function redactClusterUrl (url: string): string {
  return url.replace(/^([^:]+:\/\/[^:@/]*:)[^@]*@/, '$1***@')
}

function badOption (message: string): RedisStoreError {
  return new RedisStoreError('STORE_REDIS_ERR_OPTIONS', message)
}

/** `host:port`, `[v6]:port` or `host` (port 6379). */
function parseNode (s: string, where: string): RedisClusterNode {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(s.trim())
  const port = m?.[3] === undefined ? 6379 : Number(m[3])
  if (m === null || port < 1 || port > 65535) {
    throw badOption(`${where}: expected a cluster node host:port (port 1 to 65535), got ${JSON.stringify(s)}`)
  }
  return { host: m[1] ?? m[2]!, port }
}

/**
 * The startup nodes and credentials of a `redis+cluster://` URL.
 *
 * @throws RedisStoreError STORE_REDIS_ERR_OPTIONS
 */
export function parseClusterUrl (url: string): { nodes: RedisClusterNode[], username?: string, password?: string, tls: boolean } {
  const m = CLUSTER_URL.exec(url)
  const where = `url ${JSON.stringify(redactClusterUrl(url))}`
  if (m === null) throw badOption(`${where}: expected ${CLUSTER_URL_FORM}`)
  let rest = m[2]!
  if (rest.endsWith('/')) rest = rest.slice(0, -1)
  if (/[/?#]/.test(rest)) throw badOption(`${where}: expected ${CLUSTER_URL_FORM} (no database, path or query: a Cluster has database 0 only)`)
  const at = rest.lastIndexOf('@')
  const out: { nodes: RedisClusterNode[], username?: string, password?: string, tls: boolean } = { nodes: [], tls: m[1]!.toLowerCase() === 'rediss' }
  if (at >= 0) {
    const info = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = info.indexOf(':')
    try {
      const user = decodeURIComponent(colon < 0 ? info : info.slice(0, colon))
      if (user !== '') out.username = user
      if (colon >= 0) out.password = decodeURIComponent(info.slice(colon + 1))
    } catch (err) {
      throw new RedisStoreError('STORE_REDIS_ERR_OPTIONS', `${where}: expected percent-encoded user and password, got ${(err as Error).message}`, { cause: err })
    }
  }
  out.nodes = rest.split(',').map((s) => parseNode(s, where))
  return out
}

/** The Cluster described by `opts`, or null for a standalone server. */
function clusterSpec (opts: RedisConnectionOptions): ClusterSpec | null {
  const fromUrl = opts.url !== undefined && CLUSTER_URL.test(opts.url)
  if (!fromUrl && opts.cluster === undefined) return null
  const node: RedisOptions = {
    commandTimeout: opts.commandTimeout ?? 5000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    enableAutoPipelining: false
  }
  let nodes: RedisClusterNode[]
  if (fromUrl) {
    if (opts.cluster !== undefined) throw badOption(`options: expected either \`cluster\` or a cluster \`url\`, got both (url ${JSON.stringify(redactClusterUrl(opts.url!))})`)
    const u = parseClusterUrl(opts.url!)
    nodes = u.nodes
    if (u.username !== undefined) node.username = u.username
    if (u.password !== undefined) node.password = u.password
    if (u.tls) node.tls = {}
  } else {
    if (opts.url !== undefined) throw badOption(`options: expected either \`cluster\` or \`url\`, got both (url ${JSON.stringify(redactClusterUrl(opts.url))}; a Cluster URL is ${CLUSTER_URL_FORM})`)
    const given = opts.cluster!.nodes as unknown
    if (!Array.isArray(given) || given.length === 0) throw badOption(`option cluster.nodes: expected at least one startup node, got ${JSON.stringify(given)}`)
    nodes = given.map((n: string | RedisClusterNode, i) => {
      if (typeof n === 'string') return parseNode(n, `option cluster.nodes[${i}]`)
      if (typeof n?.host !== 'string' || !Number.isInteger(n.port)) throw badOption(`option cluster.nodes[${i}]: expected "host:port" or { host, port }, got ${JSON.stringify(n)}`)
      return { host: n.host, port: n.port }
    })
  }
  Object.assign(node, opts.redis, opts.cluster?.options?.redisOptions)
  if (opts.password !== undefined) node.password = opts.password
  if (opts.tls !== undefined) node.tls = opts.tls
  return { nodes, node }
}

/** `cluster h1:p1,h2:p2` (startup nodes) for messages; null for a standalone server. */
export function describeCluster (opts: RedisConnectionOptions): string | null {
  const spec = clusterSpec(opts)
  return spec === null ? null : `cluster ${spec.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`
}

/**
 * A lazily connecting client with bounded commands: a `Redis`, or a `Cluster` when `opts`
 * name one (`extra` then applies to every node connection).
 *
 * @throws RedisStoreError STORE_REDIS_ERR_OPTIONS
 */
export function createClient (opts: RedisConnectionOptions, extra: RedisOptions = {}, clusterExtra: ClusterOptions = {}): RedisClient {
  const spec = clusterSpec(opts)
  if (spec === null) return createRedis(opts, extra)
  const o: ClusterOptions = {
    lazyConnect: true,
    enableAutoPipelining: false,
    clusterRetryStrategy: (times) => Math.min(50 * times, 1000),
    ...opts.cluster?.options,
    ...clusterExtra,
    redisOptions: { ...spec.node, ...extra }
  }
  const c = new Cluster(spec.nodes, o)
  // The node connections time a command from when it is written to them; a command issued
  // while the Cluster itself is (re)connecting waits in the Cluster's queue without a timer.
  // Start the timer when the command is issued, as a standalone client does.
  const ms = o.redisOptions!.commandTimeout
  if (typeof ms === 'number') {
    const send = c.sendCommand.bind(c)
    c.sendCommand = (command, stream, node) => {
      command.setTimeout(ms)
      return send(command, stream, node)
    }
  }
  return c
}

/**
 * A standalone connection to one node of the Cluster named by `opts`, with the Cluster's
 * node options (credentials, TLS, timeouts) and `extra`.
 */
export function createNodeRedis (opts: RedisConnectionOptions, node: RedisClusterNode, extra: RedisOptions = {}): Redis {
  return new Redis({ lazyConnect: true, ...clusterSpec(opts)!.node, ...extra, host: node.host, port: node.port })
}

/** A lazily connecting ioredis client with bounded commands. */
export function createRedis (opts: RedisConnectionOptions, extra: RedisOptions = {}): Redis {
  const o: RedisOptions = {
    lazyConnect: true,
    commandTimeout: opts.commandTimeout ?? 5000,
    // a command in flight when the connection drops is retried once after reconnecting,
    // then fails; commands issued while disconnected wait (up to commandTimeout) in the queue
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    // Off on purpose: commands are written to the socket as they are issued anyway (one
    // connection, replies in order), and ioredis's auto-pipelining crashes the process
    // ("results[i] is not iterable") when a batch of EVALSHA meets NOSCRIPT (seen with
    // 1000 concurrent putRetained on a fresh server).
    enableAutoPipelining: false,
    ...opts.redis,
    ...extra
  }
  if (opts.password !== undefined) o.password = opts.password
  if (opts.tls !== undefined) o.tls = opts.tls
  return opts.url === undefined ? new Redis(o) : new Redis(opts.url, o)
}
