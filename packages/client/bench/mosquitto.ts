/** Starts a Mosquitto for the benchmarks on a free port (TCP only) and stops it. */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface BenchBroker { port: number, stop: () => Promise<void> }

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

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
  const proc = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' })
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) {
      await new Promise<void>((resolve) => { proc.once('exit', () => resolve()); proc.kill('SIGTERM') })
    }
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', () => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  const end = Date.now() + 5000
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) break
    if (Date.now() > end) { await stop(); throw new Error('mosquitto did not start') }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return { port, stop }
}
