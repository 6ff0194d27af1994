/**
 * A real MongoDB for tests, or the reason there is none. `MONGO_URL` wins; otherwise a
 * `mongod` on PATH is started on a free port (bind port 0, close, use it) with a temp dbpath
 * and stopped at teardown. Never a fake server.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, startProcess, which } from '@culex/test-kit'

export type MongoServer = { url: string, stop: () => Promise<void> } | { skip: string }

export async function startMongo (): Promise<MongoServer> {
  const fromEnv = process.env.MONGO_URL
  if (fromEnv !== undefined && fromEnv !== '') return { url: fromEnv, stop: async () => {} }
  if (which('mongod') === undefined) {
    return { skip: 'no MongoDB server: MONGO_URL is not set and no mongod binary is on PATH (none can be installed on this machine); set MONGO_URL=mongodb://… to run these tests' }
  }
  const dir = await mkdtemp(join(tmpdir(), 'culex-mongo-'))
  const port = await freePort()
  const p = await startProcess({
    name: `mongod on ${port}`,
    command: 'mongod',
    args: ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dir, '--quiet'],
    timeoutMs: 30_000,
    readyLine: (line) => /[Ww]aiting for connections/.test(line)
  }).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true })
    throw err
  })
  return {
    url: `mongodb://127.0.0.1:${port}`,
    stop: async () => {
      await p.stop('SIGTERM', 10_000)
      await rm(dir, { recursive: true, force: true })
    }
  }
}
