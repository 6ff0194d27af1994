/**
 * A cluster of real `culex --cluster` processes, as an operator runs one: a redis-server the
 * harness starts (or one given), N nodes on it, each with its own `--node-id` (`node-1`,
 * `node-2`, …) and free ports, and a round-robin {@link startProxy} proxy in front. Every
 * process is stopped by its PID at the test's teardown, also when the start fails halfway
 * (each piece registers its teardown as soon as it exists).
 */
import { startCulex, type Culex, type CulexOptions } from './culex.ts'
import { startProxy, type Proxy } from './proxy.ts'
import type { Teardown } from './proc.ts'
import { startRedis, type RedisServer } from './redis.ts'

export interface CulexClusterOptions {
  /** How many nodes (default 3). */
  nodes?: number
  /** More culex arguments for every node (default: `--sys-interval 0`). */
  args?: string[]
  /** Per node (0-based) arguments added after `args`. */
  nodeArgs?: (index: number) => string[]
  /** A store URL to share instead of starting a redis-server (it is then not stopped here). */
  store?: string
  /** Passed to each {@link startCulex} (cwd, env, timeoutMs). */
  culex?: CulexOptions
}

export interface CulexCluster {
  /** The redis-server the harness started (undefined when `store` was given). */
  redis: RedisServer | undefined
  /** The store URL every node shares. */
  store: string
  /** The nodes, in the proxy's round-robin order. */
  nodes: Culex[]
  /** Their `--node-id`s: `node-1`, `node-2`, … */
  ids: string[]
  /** The round-robin proxy in front of every node's MQTT port. */
  proxy: Proxy
  /** `mqtt://127.0.0.1:<port>` of node `i` (0-based), bypassing the proxy. */
  url: (i: number) => string
  /** Stop everything now (proxy, nodes by PID with SIGKILL after `graceMs`, redis). Idempotent. */
  stop: (graceMs?: number) => Promise<void>
}

/** Start a cluster (see the module comment); torn down with `t`. */
export async function startCulexCluster (t: Teardown, opts: CulexClusterOptions = {}): Promise<CulexCluster> {
  const n = opts.nodes ?? 3
  if (!Number.isInteger(n) || n < 1) throw new Error(`startCulexCluster: nodes must be a positive integer, got ${n}`)
  const redis = opts.store === undefined ? await startRedis([], { teardown: t }) : undefined
  const store = opts.store ?? redis!.url
  const ids = Array.from({ length: n }, (_, i) => `node-${i + 1}`)
  const nodes: Culex[] = []
  for (let i = 0; i < n; i++) {
    const args = ['--store', store, '--cluster', '--node-id', ids[i]!, ...(opts.args ?? ['--sys-interval', '0']), ...(opts.nodeArgs?.(i) ?? [])]
    nodes.push(await startCulex(t, args, opts.culex))
  }
  const proxy = await startProxy(nodes.map((c) => c.port), { teardown: t })
  let stopped: Promise<void> | null = null
  return {
    redis,
    store,
    nodes,
    ids,
    proxy,
    url: (i) => `mqtt://127.0.0.1:${nodes[i]!.port}`,
    stop: async (graceMs = 5000) => {
      stopped ??= (async () => {
        await proxy.close()
        await Promise.all(nodes.map(async (c) => { await c.stop('SIGTERM', graceMs) }))
        await redis?.destroy()
      })()
      await stopped
    }
  }
}
