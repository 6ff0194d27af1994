/**
 * A real MongoDB for tests, or the reason there is none. `MONGO_URL` wins; otherwise a
 * `mongod` on PATH is started on a free port (bind port 0, close, use it) with a temp dbpath
 * and stopped at teardown. Never a fake server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type MongoServer = { url: string, stop: () => Promise<void> } | { skip: string }

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

export async function startMongo (): Promise<MongoServer> {
  const fromEnv = process.env.MONGO_URL
  if (fromEnv !== undefined && fromEnv !== '') return { url: fromEnv, stop: async () => {} }
  if (spawnSync('mongod', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    return { skip: 'no MongoDB server: MONGO_URL is not set and no mongod binary is on PATH (none can be installed on this machine); set MONGO_URL=mongodb://… to run these tests' }
  }
  const dir = await mkdtemp(join(tmpdir(), 'culex-mongo-'))
  const port = await freePort()
  const p: ChildProcess = spawn('mongod', ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dir, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { reject(new Error(`mongod on ${port} not ready after 30 s: ${out.slice(-2000)}`)) }, 30_000)
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (/Waiting for connections|waiting for connections/.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    })
    p.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`mongod exited with ${String(code)}: ${out.slice(-2000)}`))
    })
  })
  p.stdout!.resume()
  return {
    url: `mongodb://127.0.0.1:${port}`,
    stop: async () => {
      if (p.exitCode === null) {
        await new Promise<void>((resolve) => {
          const kill = setTimeout(() => { p.kill('SIGKILL') }, 10_000)
          p.once('exit', () => {
            clearTimeout(kill)
            resolve()
          })
          p.kill('SIGTERM')
        })
      }
      await rm(dir, { recursive: true, force: true })
    }
  }
}
