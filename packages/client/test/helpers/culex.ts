/**
 * Starts the real `culex` broker app (`apps/broker/dist/cli.js`) with TCP, TLS, WS and WSS
 * listeners on free ports, the level store in a temp dir, and the test certificate.
 * `restart()` stops it (SIGTERM, graceful) and starts it again on the same ports and store.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeCert } from './mosquitto.ts'

export const CULEX_CLI = join(dirname(fileURLToPath(import.meta.url)), '../../../../apps/broker/dist/cli.js')

export interface Culex {
  ports: { tcp: number, tls: number, ws: number, wss: number }
  ca: string
  restart: () => Promise<void>
  stop: () => Promise<void>
}

/** Why the culex suites cannot run here, or undefined when they can. */
export function culexMissing (): string | undefined {
  if (!existsSync(CULEX_CLI)) return `${CULEX_CLI} not built (npm run build -w @culex/cli)`
  return undefined
}

export async function startCulex (t: { teardown: (fn: () => unknown) => void }, extraArgs: string[] = []): Promise<Culex> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-app-'))
  const { cert, key } = makeCert()
  let proc: ChildProcess | null = null
  let ports = { tcp: 0, tls: 0, ws: 0, wss: 0 }
  const start = async (): Promise<void> => {
    const p = spawn(process.execPath, [CULEX_CLI,
      '--port', String(ports.tcp), '--tls-port', String(ports.tls), '--ws-port', String(ports.ws), '--wss-port', String(ports.wss),
      '--host', '127.0.0.1', '--cert', cert, '--key', key, '--store', 'level', '--data-dir', join(dir, 'data'), '--sys-interval', '0',
      ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc = p
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`culex did not get ready within 10 s: ${out}`)) }, 10000)
      p.stderr!.on('data', (d: Buffer) => { out += d.toString() })
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        for (const line of out.split('\n')) {
          if (!line.includes('"ready":true')) continue
          const ready = JSON.parse(line) as { addresses: Array<{ protocol: string, port: number }> }
          const find = (proto: string): number => ready.addresses.find((a) => a.protocol === proto)!.port
          ports = { tcp: find('mqtt'), tls: find('mqtts'), ws: find('ws'), wss: find('wss') }
          clearTimeout(timer)
          resolve()
          return
        }
      })
      p.once('exit', (code) => { clearTimeout(timer); reject(new Error(`culex exited with ${code}: ${out}`)) })
    })
    p.stdout!.resume()
  }
  const stop = async (): Promise<void> => {
    const p = proc
    proc = null
    if (p === null || p.exitCode !== null) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => p.kill('SIGKILL'), 5000)
      p.once('exit', () => { clearTimeout(timer); resolve() })
      p.kill('SIGTERM')
    })
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await start()
  return {
    get ports () { return ports },
    ca: readFileSync(cert, 'utf8'),
    stop,
    restart: async () => {
      await stop()
      // the clients reconnect to the same ports; between the stop and the start another test
      // process may briefly hold one of them (it was free, so port 0 may hand it out): retry
      for (let attempt = 0; ; attempt++) {
        try {
          await start()
          return
        } catch (err) {
          if (attempt >= 20 || !String((err as Error).message).includes('EADDRINUSE')) throw err
          await new Promise((resolve) => setTimeout(resolve, 250))
        }
      }
    }
  }
}
