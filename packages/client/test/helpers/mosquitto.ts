/**
 * Starts a real Mosquitto (`/usr/sbin/mosquitto`) with TCP, TLS and WebSocket listeners on
 * free ports, a generated config and a self-signed certificate made with `openssl` at test
 * time. `restart()` stops it (persisting its database) and starts it again on the same ports.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.ts'

export const MOSQUITTO = '/usr/sbin/mosquitto'

export interface Mosquitto {
  ports: { tcp: number, tls: number, ws: number, wss: number }
  /** PEM of the self-signed CA/server certificate (CN=localhost, SAN 127.0.0.1). */
  ca: string
  restart: () => Promise<void>
  stop: () => Promise<void>
  start: () => Promise<void>
}

let certDir: string | undefined

/** Generates (once per process) a self-signed certificate for 127.0.0.1 / localhost. */
export function makeCert (): { dir: string, cert: string, key: string } {
  if (certDir === undefined) {
    certDir = mkdtempSync(join(tmpdir(), 'culex-client-cert-'))
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'
    ], { stdio: 'ignore' })
    const dir = certDir
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
  return { dir: certDir, cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') }
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

/** Starts mosquitto; register `stop` in teardown right away (the helper does it with `t`). */
export async function startMosquitto (t: { teardown: (fn: () => unknown) => void }, extra = ''): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-mosq-'))
  const { cert, key } = makeCert()
  const ports = { tcp: await freePort(), tls: await freePort(), ws: await freePort(), wss: await freePort() }
  const conf = join(dir, 'mosquitto.conf')
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
    // 3.1.1 persistent session when that session reconnects (reproduced with MQTT.js as
    // the subscriber too); a window larger than the tests' bursts keeps them out of that path.
    'max_inflight_messages 1000',
    'log_dest none',
    `listener ${ports.tcp} 127.0.0.1`,
    `listener ${ports.ws} 127.0.0.1`,
    'protocol websockets',
    `listener ${ports.tls} 127.0.0.1`,
    `certfile ${cert}`,
    `keyfile ${key}`,
    `listener ${ports.wss} 127.0.0.1`,
    'protocol websockets',
    `certfile ${cert}`,
    `keyfile ${key}`,
    extra,
    ''
  ].join('\n'))
  let proc: ChildProcess | null = null
  const start = async (): Promise<void> => {
    const p = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    p.stderr!.on('data', (d: Buffer) => { err += d.toString() })
    proc = p
    try {
      await Promise.all([waitPort(ports.tcp, 5000), waitPort(ports.ws, 5000), waitPort(ports.tls, 5000), waitPort(ports.wss, 5000)])
    } catch (e) {
      p.kill('SIGKILL')
      throw new Error(`${(e as Error).message}: ${err}`)
    }
  }
  const stop = async (): Promise<void> => {
    const p = proc
    proc = null
    if (p === null || p.exitCode !== null) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => p.kill('SIGKILL'), 3000)
      p.once('exit', () => { clearTimeout(timer); resolve() })
      p.kill('SIGTERM') // mosquitto saves its persistence database on SIGTERM
    })
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await start()
  return {
    ports,
    ca: readFileSync(cert, 'utf8'),
    start,
    stop,
    restart: async () => { await stop(); await start() }
  }
}

/** Why the mosquitto suites cannot run here, or undefined when they can. */
export function mosquittoMissing (): string | undefined {
  if (!existsSync(MOSQUITTO)) return `${MOSQUITTO} not installed (Debian package mosquitto)`
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
  } catch {
    return 'openssl not found (needed to generate the TLS certificate)'
  }
  return undefined
}
