/** Starts a Mosquitto for the benchmarks on a free port (TCP only, no persistence) and stops it. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MOSQUITTO, freePort, startProcess, waitForPort } from '@culex/test-kit'

export interface BenchBroker { port: number, stop: () => Promise<void> }

export async function startMosquitto (): Promise<BenchBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-bench-mosq-'))
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [
    process.getuid?.() === 0 ? 'user root' : '',
    'allow_anonymous true',
    'persistence false',
    'log_dest none',
    'max_queued_messages 0',
    'max_inflight_messages 0',
    process.env.NODELAY === '0' ? '' : 'set_tcp_nodelay true',
    `listener ${port} 127.0.0.1`,
    ''
  ].join('\n'))
  const proc = await startProcess({ name: 'mosquitto', command: MOSQUITTO, args: ['-c', conf], readyWhen: async () => { await waitForPort(port) } })
  return {
    port,
    stop: async () => {
      await proc.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
