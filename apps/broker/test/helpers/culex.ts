// Start the real `culex` process (dist/cli.js) for interop tests, and make TLS material.
// Every process is killed in teardown; every wait has a timeout.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js')

interface Tap {
  teardown: (fn: () => unknown) => void
}

export interface Culex {
  proc: ChildProcess
  /** port per protocol (mqtt, mqtts, ws, wss) on 127.0.0.1 */
  ports: Record<string, number>
  logs: Array<Record<string, unknown>>
  stderr: () => string
  /** resolves with the exit code / signal */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** A clean env: no CULEX_* from the outside. */
export function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CULEX_') && !k.startsWith('NODE_V8_COVERAGE') && k !== 'NODE_OPTIONS') env[k] = v
  return { ...env, ...extra }
}

export function tempDir (t: Tap, prefix = 'culex-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Spawn culex with `args` (defaults: --port 0 --store memory) and wait for its "ready" line.
 * `opts.command` runs another `culex` executable (e.g. an installed bin) instead of dist/cli.js.
 */
export async function startCulex (t: Tap, args: string[] = [], opts: { env?: Record<string, string>, cwd?: string, command?: string } = {}): Promise<Culex> {
  const full = [...(args.includes('--port') ? [] : ['--port', '0']), ...(args.includes('--store') ? [] : ['--store', 'memory']), ...args]
  const proc = opts.command === undefined
    ? spawn(process.execPath, [CLI, ...full], { cwd: opts.cwd ?? tmpdir(), env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(opts.command, full, { cwd: opts.cwd ?? tmpdir(), env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL')
      await exited
    }
  })
  const logs: Array<Record<string, unknown>> = []
  let err = ''
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  let buf = ''
  const ready = new Promise<Record<string, number>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`culex not ready in 10 s; stderr: ${err}`)), 10_000)
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      let nl
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        let rec: Record<string, unknown>
        try { rec = JSON.parse(line) } catch { continue }
        logs.push(rec)
        if (rec.ready === true) {
          clearTimeout(timer)
          const ports: Record<string, number> = {}
          for (const a of rec.addresses as Array<{ protocol: string, host: string, port: number }>) {
            if (a.host !== '::1') ports[a.protocol] = a.port
          }
          resolve(ports)
        }
      }
    })
    exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`culex exited (${code ?? signal}) before ready; stderr: ${err}`))
    })
  })
  const ports = await ready
  return { proc, ports, logs, stderr: () => err, exited }
}

/** Run culex to completion (for config errors, --help, passwd). */
export async function runCulex (args: string[], opts: { env?: Record<string, string>, cwd?: string, timeoutMs?: number } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? tmpdir(), env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 10_000)
  const [code] = await once(proc, 'exit') as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

export function hasBinary (name: string): boolean {
  try {
    execFileSync('which', [name], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export interface Pki {
  ca: string
  cert: string
  key: string
  clientCert: string
  clientKey: string
  caPem: Buffer
  clientCertPem: Buffer
  clientKeyPem: Buffer
}

/** A throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate (openssl). */
export function makePki (dir: string): Pki {
  const o = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
  o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=culex test CA')
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n')
  o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  o('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext')
  o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=culex test client')
  o('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2')
  const p = (f: string): string => join(dir, f)
  return {
    ca: p('ca.pem'),
    cert: p('server.pem'),
    key: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    caPem: readFileSync(p('ca.pem')),
    clientCertPem: readFileSync(p('client.pem')),
    clientKeyPem: readFileSync(p('client.key'))
  }
}
