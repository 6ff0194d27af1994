/**
 * A real Mosquitto (`mosquitto`, Debian package mosquitto) on free ports: TCP always, and
 * WebSocket, TLS and WSS listeners on request, with persistence in a temp dir. `stop()` ends
 * it by its PID with SIGTERM (Mosquitto writes its persistence database then); `start()`
 * starts it again on the same ports and database.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitForPort } from './ports.ts'
import { startProcess, sleep, type ManagedProcess, type Teardown } from './proc.ts'
import { missing, which } from './skip.ts'
import { makeCert } from './tls.ts'

/** Where Debian installs it (not on a normal user's PATH). */
export const MOSQUITTO = which('mosquitto') ?? '/usr/sbin/mosquitto'

/** false when mosquitto (and openssl, for its TLS listeners when `tls`) is installed, else the reason to skip. */
export function mosquittoMissing (opts: { tls?: boolean } = {}): string | false {
  return opts.tls === true ? missing('mosquitto', 'openssl') : missing('mosquitto')
}

export interface MosquittoOptions {
  /** A WebSocket listener (and WSS with `tls`). */
  ws?: boolean
  /** A TLS listener with the {@link makeCert} certificate. */
  tls?: boolean
  /** More configuration lines, appended. */
  extra?: string
}

export interface Mosquitto {
  /** The TCP port. */
  port: number
  /** The WebSocket port (0 without `ws`). */
  wsPort: number
  /** Every listener's port; 0 for the listeners not asked for. */
  ports: { tcp: number, ws: number, tls: number, wss: number }
  /** PEM of the self-signed server certificate ('' without `tls`). */
  ca: string
  /** PID of the running broker (-1 when stopped). */
  readonly pid: number
  /** Output of the current (or last) process. */
  log: () => string
  start: () => Promise<void>
  stop: () => Promise<void>
  restart: () => Promise<void>
}

const inUse = (e: unknown): boolean => /Address already in use|EADDRINUSE/i.test(String((e as Error).message))

/** Start Mosquitto; it is stopped and its directory removed at `t`'s teardown. */
export async function startMosquitto (t: Teardown, opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-mosq-'))
  const cert = opts.tls === true ? makeCert() : undefined
  const conf = join(dir, 'mosquitto.conf')
  const ports = { tcp: 0, ws: 0, tls: 0, wss: 0 }
  const configure = async (): Promise<void> => {
    ports.tcp = await freePort()
    if (opts.ws === true) ports.ws = await freePort()
    if (cert !== undefined) ports.tls = await freePort()
    if (cert !== undefined && opts.ws === true) ports.wss = await freePort()
    const tls = cert === undefined ? [] : [`certfile ${cert.cert}`, `keyfile ${cert.key}`]
    writeFileSync(conf, [
      // started as root, mosquitto drops to user "mosquitto", which cannot read our temp files
      process.getuid?.() === 0 ? 'user root' : '',
      'per_listener_settings false',
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 0',
      'max_queued_messages 100000',
      // Mosquitto 2.0.11 loses QoS 1 messages queued behind a full inflight window of a
      // 3.1.1 persistent session when that session reconnects; a window larger than the
      // tests' bursts keeps them out of that path.
      'max_inflight_messages 1000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      `listener ${ports.tcp} 127.0.0.1`,
      ...(ports.ws !== 0 ? [`listener ${ports.ws} 127.0.0.1`, 'protocol websockets'] : []),
      ...(ports.tls !== 0 ? [`listener ${ports.tls} 127.0.0.1`, ...tls] : []),
      ...(ports.wss !== 0 ? [`listener ${ports.wss} 127.0.0.1`, 'protocol websockets', ...tls] : []),
      opts.extra ?? '',
      ''
    ].join('\n'))
  }
  let proc: ManagedProcess | null = null
  let last: ManagedProcess | null = null
  const spawnOnce = async (): Promise<void> => {
    proc = await startProcess({
      name: `mosquitto on ${ports.tcp}`,
      command: MOSQUITTO,
      args: ['-c', conf],
      readyWhen: async (_p, signal) => {
        await Promise.all(Object.values(ports).filter((p) => p !== 0).map(async (p) => { await waitForPort(p, { timeoutMs: 10_000, signal }) }))
      }
    })
    last = proc
  }
  const stop = async (): Promise<void> => {
    const p = proc
    proc = null
    await p?.stop('SIGTERM', 3000) // mosquitto saves its persistence database on SIGTERM
  }
  const start = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await spawnOnce()
        return
      } catch (e) {
        if (attempt >= 20 || !inUse(e)) throw e
        await sleep(250)
      }
    }
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  // the first start may lose a port to another process: try other ones
  for (let attempt = 0; ; attempt++) {
    await configure()
    try {
      await spawnOnce()
      break
    } catch (e) {
      if (attempt >= 5 || !inUse(e)) throw e
    }
  }
  return {
    port: ports.tcp,
    wsPort: ports.ws,
    ports: { ...ports },
    ca: cert === undefined ? '' : readFileSync(cert.cert, 'utf8'),
    get pid () { return (proc as ManagedProcess | null)?.pid ?? -1 },
    log: () => (last as ManagedProcess | null)?.log() ?? '',
    start,
    stop,
    restart: async () => { await stop(); await start() }
  }
}
