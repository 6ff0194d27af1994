/**
 * Starting and stopping the brokers under comparison, each fresh, as a child process,
 * optionally pinned to a CPU with taskset:
 *  - culex: this repo's app, `apps/broker/dist/cli.js --store memory` on a free port;
 *  - aedes: 1.2.0 with its in-memory persistence on a plain net server (aedes-server.js);
 *  - mosquitto: the Debian binary with a generated config (anonymous, no persistence).
 * Queue limits are raised on all three to `queueLimit` so the backlog scenario measures
 * draining, not each broker's default cap (culex 1000, mosquitto 1000, aedes none).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { BenchError, BenchErrorCode } from '../errors.ts'
import { benchDir, pinned } from './harness.ts'

export const BROKERS = ['culex', 'aedes', 'mosquitto'] as const
export type BrokerKind = typeof BROKERS[number]

export { benchDir, pinned }

const culexCli = path.resolve(benchDir, '..', 'broker', 'dist', 'cli.js')
const aedesServer = path.resolve(benchDir, 'dist', 'compare', 'aedes-server.js')

/** Path of a program on PATH (or /usr/sbin), or null. */
export function which (name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir === '') continue
    const p = path.join(dir, name)
    if (existsSync(p)) return p
  }
  return null
}

/** Whether each broker can be started here, and why not. */
export function availability (kind: BrokerKind): { ok: boolean, reason: string } {
  switch (kind) {
    case 'culex': return existsSync(culexCli) ? { ok: true, reason: culexCli } : { ok: false, reason: `${culexCli} not built (npm run build -w @culex/cli)` }
    case 'aedes': return existsSync(aedesServer) ? { ok: true, reason: aedesServer } : { ok: false, reason: `${aedesServer} not built (npm run build -w culex-bench)` }
    case 'mosquitto': {
      const bin = which('mosquitto')
      return bin === null ? { ok: false, reason: 'mosquitto not installed (Debian package mosquitto)' } : { ok: true, reason: bin }
    }
  }
}

/** A version string for the report. */
export function brokerVersion (kind: BrokerKind): string {
  if (kind === 'mosquitto') {
    const bin = which('mosquitto')
    if (bin === null) return 'not installed'
    const r = spawnSync(bin, ['-h'], { encoding: 'utf8' })
    const m = /mosquitto version (\S+)/.exec(`${r.stdout}${r.stderr}`)
    return m === null ? 'unknown' : m[1] as string
  }
  if (kind === 'aedes') return '1.2.0'
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: benchDir, encoding: 'utf8' })
  return r.status === 0 ? `(this repo at ${r.stdout.trim()})` : '(this repo)'
}

/** A free TCP port on 127.0.0.1 (closed again before use: a small race, fine here). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** A running broker. */
export interface BrokerHandle {
  kind: BrokerKind
  port: number
  pid: number
  stop: () => Promise<void>
}

function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { s.destroy(); resolve(false) })
  })
}

/**
 * Where the brokers keep sessions, queues and retained messages:
 *  - memory: each broker's in-memory default (Mosquitto without persistence);
 *  - level: LevelDB in a fresh directory (culex `--store level`, aedes-persistence-level);
 *    `level-nofsync` is culex with `--no-fsync`, the same durability as aedes-persistence-level
 *    (classic-level's default: no fsync per write);
 *  - redis: a fresh redis-server per broker run (AOF, appendfsync everysec), culex
 *    `--store redis://…` vs aedes-persistence-redis.
 */
export const PERSISTENCES = ['memory', 'level', 'redis'] as const
export type Persistence = typeof PERSISTENCES[number]

/** A redis-server started for one broker run. */
interface RedisHandle { port: number, stop: () => Promise<void> }

async function startRedis (cpu: string | null): Promise<RedisHandle> {
  const bin = which('redis-server')
  if (bin === null) throw new BenchError(BenchErrorCode.brokerStart, 'redis-server not installed (Debian package redis-server)')
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'culex-bench-redis-'))
  const [c, a] = pinned(cpu, bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'])
  const child = spawn(c, a, { stdio: 'ignore' })
  const exit = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  child.once('error', () => {})
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exit
    clearTimeout(t)
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10000
  while (Date.now() < deadline) {
    if (await canConnect(port)) return { port, stop }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await stop()
  throw new BenchError(BenchErrorCode.brokerStart, `redis-server did not accept connections on 127.0.0.1:${port} within 10 s`)
}

/** Options of {@link startBroker}. */
export interface StartOptions {
  /** CPU to pin the broker (and its redis-server) to, or null. */
  cpu: string | null
  queueLimit: number
  persistence?: Persistence
  /** culex with level persistence: pass --no-fsync. */
  noFsync?: boolean
  /** culex: another build's cli.js (an A/B run against main), instead of this repo's. */
  cli?: string
  /** Extra command-line arguments (culex only). */
  extraArgs?: string[]
}

/**
 * Starts a broker (and the redis-server it needs) and waits (≤ 10 s) until its port accepts
 * connections.
 * @throws BenchError BENCH_ERR_BROKER_START with the broker's stderr tail
 */
export async function startBroker (kind: BrokerKind, opts: StartOptions): Promise<BrokerHandle> {
  const persistence = opts.persistence ?? 'memory'
  if (kind === 'mosquitto' && persistence !== 'memory') throw new BenchError(BenchErrorCode.brokerStart, `mosquitto has no ${persistence} persistence`)
  const port = await freePort()
  let tmp: string | null = null
  let redis: RedisHandle | null = null
  let cmd: string
  let args: string[]
  if (persistence === 'level') tmp = mkdtempSync(path.join(tmpdir(), `culex-bench-${kind}-level-`))
  if (persistence === 'redis') redis = await startRedis(opts.cpu)
  switch (kind) {
    case 'culex':
      cmd = process.execPath
      args = [opts.cli ?? culexCli, '--host', '127.0.0.1', '--port', String(port), '--max-queued-messages', String(opts.queueLimit)]
      if (persistence === 'memory') args.push('--store', 'memory')
      if (persistence === 'level') args.push('--store', 'level', '--data-dir', tmp as string, ...(opts.noFsync === true ? ['--no-fsync'] : []))
      if (persistence === 'redis') args.push('--store', `redis://127.0.0.1:${(redis as RedisHandle).port}`)
      if (opts.extraArgs !== undefined) args.push(...opts.extraArgs)
      break
    case 'aedes':
      cmd = process.execPath
      args = [aedesServer, '--port', String(port), '--persistence', persistence]
      if (persistence === 'level') args.push('--path', tmp as string)
      if (persistence === 'redis') args.push('--redis-port', String((redis as RedisHandle).port))
      break
    case 'mosquitto': {
      tmp = mkdtempSync(path.join(tmpdir(), 'culex-bench-mosquitto-'))
      const conf = path.join(tmp, 'mosquitto.conf')
      writeFileSync(conf, [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        `max_queued_messages ${opts.queueLimit}`,
        'log_dest stderr',
        'log_type error',
        ''
      ].join('\n'))
      cmd = which('mosquitto') ?? 'mosquitto'
      args = ['-c', conf]
      break
    }
  }
  const [c, a] = pinned(opts.cpu, cmd, args)
  const child: ChildProcess = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
  let exited = false
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve() }))
  child.once('error', () => {})
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exit
      clearTimeout(t)
    }
    if (redis !== null) await redis.stop()
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10000
  while (Date.now() < deadline) {
    if (exited) break
    if (await canConnect(port)) return { kind, port, pid: child.pid as number, stop }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await stop()
  throw new BenchError(BenchErrorCode.brokerStart, `${kind} did not accept connections on 127.0.0.1:${port} within 10 s${exited ? ' (it exited)' : ''}: ${stderr.trim().slice(-500)}`)
}
