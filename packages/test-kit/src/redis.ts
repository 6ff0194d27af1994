/**
 * A real `redis-server` (Debian package redis-server) for tests: a free port, a temp dir with
 * an append-only file (fsync always), stopped by its PID (SIGTERM, then SIGKILL). Restartable
 * on the same port and data, to test reconnection. {@link startRedisCluster}: a Redis Cluster
 * of such servers, formed with `redis-cli --cluster create`.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.ts'
import { startProcess, sleep, type ManagedProcess, type Teardown } from './proc.ts'
import { missing } from './skip.ts'

export interface RedisServer {
  port: number
  url: string
  /** PID of the running server (-1 when stopped). */
  readonly pid: number
  /** Output of the current (or last) server process. */
  log: () => string
  /** Stop (SIGTERM, SIGKILL after 5 s); the data dir stays, `start()` brings it back. */
  stop: () => Promise<void>
  start: () => Promise<void>
  /** Stop for good and remove the data dir. */
  destroy: () => Promise<void>
}

/** false when redis-server is installed, else the reason to skip. */
export function redisMissing (): string | false {
  return missing('redis-server')
}

const inUse = (e: unknown): boolean => /Address already in use|EADDRINUSE/i.test(String((e as Error).message))

/**
 * Start a redis-server with `extraArgs` (`opts.tls`: the port is a TLS port; pass the
 * certificate flags in `extraArgs`). With `opts.teardown` it is destroyed at that test's
 * teardown; otherwise call `destroy()`.
 */
export async function startRedis (extraArgs: string[] = [], opts: { tls?: boolean, teardown?: Teardown } = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-redis-'))
  let port = await freePort()
  let proc: ManagedProcess | null = null
  let last: ManagedProcess | null = null

  const spawnOnce = async (): Promise<void> => {
    proc = await startProcess({
      name: `redis-server on ${port}`,
      command: 'redis-server',
      args: [
        ...(opts.tls === true ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)]),
        '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', ...extraArgs
      ],
      readyLine: (line) => line.includes('Ready to accept connections')
    })
    last = proc
  }
  const stop = async (): Promise<void> => {
    const p = proc
    proc = null
    await p?.stop('SIGTERM', 5000)
  }
  const destroy = async (): Promise<void> => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  }

  // the first start may lose its port to another process: try another one
  for (let attempt = 0; ; attempt++) {
    try {
      await spawnOnce()
      break
    } catch (e) {
      if (attempt >= 5 || !inUse(e)) {
        await rm(dir, { recursive: true, force: true })
        throw e
      }
      port = await freePort()
    }
  }
  opts.teardown?.teardown(destroy)
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid () { return (proc as ManagedProcess | null)?.pid ?? -1 },
    log: () => (last as ManagedProcess | null)?.log() ?? '',
    stop,
    start: async () => {
      // a restart keeps its port; someone may hold it for a moment
      for (let attempt = 0; ; attempt++) {
        try {
          await spawnOnce()
          return
        } catch (e) {
          if (attempt >= 20 || !inUse(e)) throw e
          await sleep(250)
        }
      }
    },
    destroy
  }
}

export interface RedisCluster {
  /** The nodes' ports (each node is a master of a share of the slots). */
  ports: number[]
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` */
  url: string
  servers: RedisServer[]
  /** Stop every node and remove their data dirs. */
  destroy: () => Promise<void>
}

async function redisCli (args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message} ${stdout} ${stderr}`, { cause: err }))
      else resolve(stdout)
    })
  })
}

/**
 * A Redis Cluster of `n` masters (no replicas) on 127.0.0.1: each a server of
 * {@link startRedis} with `--cluster-enabled yes` in its own temp dir, joined with
 * `redis-cli --cluster create`, ready once every node reports `cluster_state:ok`. On any
 * failure every node started so far is stopped before the error is thrown.
 */
export async function startRedisCluster (n = 3, opts: { teardown?: Teardown } = {}): Promise<RedisCluster> {
  const servers: RedisServer[] = []
  const destroy = async (): Promise<void> => { await Promise.all(servers.map(async (s) => { await s.destroy() })) }
  try {
    for (let i = 0; i < n; i++) {
      // the cluster bus gets a free port of its own too (default: port + 10000, maybe taken)
      const bus = await freePort()
      // nodes.conf is relative to --dir: each node keeps its own
      servers.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', '--appendonly', 'no']))
    }
    const addrs = servers.map((s) => `127.0.0.1:${s.port}`)
    await redisCli(['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'])
    const deadline = Date.now() + 20_000
    for (const s of servers) {
      let info = ''
      while (!info.includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`node 127.0.0.1:${s.port} not cluster_state:ok after 20 s: ${info}`)
        info = await redisCli(['-h', '127.0.0.1', '-p', String(s.port), 'cluster', 'info'])
        if (!info.includes('cluster_state:ok')) await sleep(100)
      }
    }
    opts.teardown?.teardown(destroy)
    return { ports: servers.map((s) => s.port), url: `redis+cluster://${addrs.join(',')}`, servers, destroy }
  } catch (err) {
    await destroy()
    throw err
  }
}
