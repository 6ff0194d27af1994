/**
 * A real Mosquitto (`/usr/sbin/mosquitto`, Debian package mosquitto) on a free TCP port and
 * a WebSocket port, with persistence in a temp dir; `stop()` ends it with SIGTERM (Mosquitto
 * writes its persistence database then) and `start()` starts it again on the same ports.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const MOSQUITTO = '/usr/sbin/mosquitto'

/** Why Mosquitto tests cannot run here, or false. */
export const mosquittoMissing: string | false = existsSync(MOSQUITTO) ? false : `${MOSQUITTO} not installed (Debian package mosquitto)`

export interface Mosquitto {
  port: number
  wsPort: number
  start: () => Promise<void>
  stop: () => Promise<void>
}

/** A port the OS considers free now (Mosquitto cannot listen on 0 and report it). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

async function waitPort (port: number, ms: number): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > end) throw new Error(`mosquitto did not listen on ${port} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Start Mosquitto; it is stopped (by its PID) and its directory removed in teardown. */
export async function startMosquitto (t: { teardown: (fn: () => unknown) => void }): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-bridge-mosq-'))
  const port = await freePort()
  const wsPort = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [
    process.getuid?.() === 0 ? 'user root' : '',
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    'autosave_interval 0',
    'max_queued_messages 100000',
    // Mosquitto 2.0.11 loses QoS 1 messages queued behind a full inflight window of a 3.1.1
    // persistent session when it reconnects (see packages/client/README.md)
    'max_inflight_messages 1000',
    'log_dest none',
    `listener ${port} 127.0.0.1`,
    `listener ${wsPort} 127.0.0.1`,
    'protocol websockets',
    ''
  ].join('\n'))
  let proc: ChildProcess | null = null
  const start = async (): Promise<void> => {
    const p = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    p.stderr!.on('data', (d: Buffer) => { err += d.toString() })
    proc = p
    try {
      await Promise.all([waitPort(port, 5000), waitPort(wsPort, 5000)])
    } catch (e) {
      p.kill('SIGKILL')
      throw new Error(`${(e as Error).message}: ${err}`)
    }
  }
  const stop = async (): Promise<void> => {
    const p = proc
    proc = null
    if (p === null || p.exitCode !== null || p.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => p.kill('SIGKILL'), 3000)
      p.once('exit', () => { clearTimeout(timer); resolve() })
      p.kill('SIGTERM') // writes the persistence database
    })
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await start()
  return { port, wsPort, start, stop }
}
