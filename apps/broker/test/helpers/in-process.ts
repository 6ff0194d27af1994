// startServer in the test's own process (so the app's code counts toward coverage), with
// the log lines parsed as the spawned-process helper parses them.
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { loadConfig } from '../../src/config.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import type { Target } from './operator-suite.ts'

export async function startInProcess (t: { teardown: (fn: () => unknown) => void }, args: string[], cwd: string): Promise<Target & { server: RunningServer }> {
  const r = loadConfig({ argv: ['--port', '0', '--store', 'memory', ...args], env: {}, cwd })
  if (r.action !== 'run') throw new Error('expected a config to run')
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line))
      cb()
    }
  })
  const server = await startServer(r.config, pino({ level: r.config.logLevel }, sink))
  t.teardown(() => server.close())
  const ports: Record<string, number> = {}
  for (const a of server.addresses) if (a.host !== '::1') ports[a.protocol] = a.port
  return { ports, logs, server }
}
