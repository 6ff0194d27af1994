/**
 * A real redis-server for tests: a free port (bind port 0, close, use it), a temp dir with
 * an append-only file, stopped (SIGTERM, then SIGKILL) at teardown. Restartable on the same
 * port and data, to test reconnection.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

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
