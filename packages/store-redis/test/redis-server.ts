/**
 * A real redis-server for tests: a free port (bind port 0, close, use it), a temp dir with
 * an append-only file, stopped (SIGTERM, then SIGKILL) at teardown. Restartable on the same
 * port and data, to test reconnection.
 *
 * {@link startRedisCluster}: a real Redis Cluster of such servers (cluster mode on, no AOF),
 * formed with `redis-cli --cluster create`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

export interface RedisServer {
  port: number
  url: string
  stop: () => Promise<void>
  start: () => Promise<void>
  /** Stop for good and remove the data dir. */
  destroy: () => Promise<void>
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => { resolve(port) })
    })
  })
}

export async function startRedis (extraArgs: string[] = [], opts: { tls?: boolean } = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-redis-'))
  const port = await freePort()
  let proc: ChildProcess | null = null

  const start = async (): Promise<void> => {
    const p = spawn('redis-server', [...(opts.tls === true ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)]), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc = p
    // even if the test process dies without teardown, the server goes with it
    const reap = (): void => { p.kill('SIGKILL') }
    process.once('exit', reap)
    p.once('exit', () => { process.removeListener('exit', reap) })
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => { reject(new Error(`redis-server on ${port} not ready after 10 s: ${out}`)) }, 10_000)
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      p.on('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${String(code)}: ${out}`))
      })
    })
    p.stdout!.resume()
  }

  const stop = async (): Promise<void> => {
    const p = proc
    proc = null
    if (p === null || p.exitCode !== null) return
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => { p.kill('SIGKILL') }, 5000)
      p.once('exit', () => {
        clearTimeout(kill)
        resolve()
      })
      p.kill('SIGTERM')
    })
  }

  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    destroy: async () => {
      await stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export interface RedisCluster {
  /** The nodes' ports (each node is a master of a third of the slots). */
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
 * A Redis Cluster of `n` masters (no replicas) on 127.0.0.1: each a redis-server of
 * {@link startRedis} with `--cluster-enabled yes` in its own temp dir, joined with
 * `redis-cli --cluster create`, ready once every node reports `cluster_state:ok`. On any
 * failure every node started so far is stopped before the error is thrown.
 */
export async function startRedisCluster (n = 3): Promise<RedisCluster> {
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
        if (!info.includes('cluster_state:ok')) await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    return { ports: servers.map((s) => s.port), url: `redis+cluster://${addrs.join(',')}`, servers, destroy }
  } catch (err) {
    await destroy()
    throw err
  }
}

/** culex arguments for a store on a fresh standalone redis-server, stopped at `t`'s teardown. */
export async function standaloneStoreArgs (_dir: string, t: Test): Promise<string[]> {
  const server = await startRedis()
  t.teardown(() => server.destroy())
  return ['--store', server.url]
}

/** culex arguments for a store on a fresh 3-master Redis Cluster, stopped at `t`'s teardown. */
export async function clusterStoreArgs (_dir: string, t: Test): Promise<string[]> {
  const cluster = await startRedisCluster()
  t.teardown(() => cluster.destroy())
  return ['--store', cluster.url]
}
