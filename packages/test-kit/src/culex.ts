/**
 * The built `culex` command (apps/broker/dist/cli.js) as a process a test owns: started with
 * a clean environment, ready once it logs its `ready` line (JSON, with the addresses it bound),
 * its log kept (raw and as parsed JSON records), stopped by its PID at the test's teardown.
 * `restart()` starts it again with the same arguments on the ports it had.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startProcess, sleep, type Exit, type ManagedProcess, type Teardown } from './proc.ts'

/** The culex CLI of this repository (built by `npm run build -w @culex/cli`). */
export const CULEX_CLI = fileURLToPath(new URL('../../../apps/broker/dist/cli.js', import.meta.url))

/** false when culex is built, else the reason its tests cannot run. */
export function culexMissing (): string | false {
  return existsSync(CULEX_CLI) ? false : `the culex app is not built (${CULEX_CLI} missing; npm run build -w @culex/cli)`
}

/**
 * Like {@link culexMissing}, but under CI (`CI` set), where turbo builds the app before the
 * tests and a missing build is a failure rather than a gap: then `t` fails and null is returned.
 */
export function culexSkip (t: { fail: (msg: string) => unknown }, what: string): string | false | null {
  const reason = culexMissing()
  if (reason === false) return false
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    t.fail(`${reason}: ${what} cannot run`)
    return null
  }
  return reason
}

/** This process's environment without CULEX_* variables, coverage hooks or NODE_OPTIONS, plus `extra`. */
export function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CULEX_') && !k.startsWith('NODE_V8_COVERAGE') && k !== 'NODE_OPTIONS') env[k] = v
  }
  return { ...env, ...extra }
}

export interface CulexOptions {
  env?: Record<string, string>
  /** Working directory (default the OS temp dir). */
  cwd?: string
  /** Another `culex` executable (e.g. an installed bin) instead of `node dist/cli.js`. */
  command?: string
  /** Milliseconds to wait for the ready line (default 15000). */
  timeoutMs?: number
}

export interface Culex {
  /** The current process (a new one after `restart()`). */
  readonly proc: ManagedProcess['proc']
  readonly pid: number
  /** Port per protocol (mqtt, mqtts, ws, wss, http, https, coap), 127.0.0.1 preferred over other hosts, ::1 never. */
  readonly ports: Record<string, number>
  /** The MQTT TCP port. */
  readonly port: number
  /** Every JSON log line culex wrote to stdout, parsed, across restarts. */
  readonly logs: Array<Record<string, unknown>>
  /** Its stderr so far (the current process). */
  stderr: () => string
  /** Its stdout and stderr so far (the current process). */
  log: () => string
  /** Resolves with the exit code / signal of the current process. */
  readonly exited: Promise<Exit>
  /** SIGTERM (graceful; or `signal`), SIGKILL after `graceMs`. */
  stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<Exit>
  /** Stop (SIGTERM) if running, then start again with the same arguments on the same ports. */
  restart: () => Promise<void>
}

// which flag binds which protocol's port, to restart on the same ports
const PORT_FLAGS: Record<string, string> = { mqtt: '--port', mqtts: '--tls-port', ws: '--ws-port', wss: '--wss-port', http: '--http-port', https: '--https-port' }

/**
 * Start culex with `args` (`--port 0` added unless a `--port` is given) and resolve once it
 * is ready. It is stopped (SIGKILL) at `t`'s teardown if still running.
 */
export async function startCulex (t: Teardown, args: string[] = [], opts: CulexOptions = {}): Promise<Culex> {
  let current: ManagedProcess | null = null
  let ports: Record<string, number> = {}
  const logs: Array<Record<string, unknown>> = []
  let argv = args.includes('--port') ? [...args] : ['--port', '0', ...args]

  const spawnOnce = async (): Promise<void> => {
    let found: Record<string, number> | null = null
    current = await startProcess({
      name: `culex ${argv.join(' ')}`,
      command: opts.command ?? process.execPath,
      args: opts.command === undefined ? [CULEX_CLI, ...argv] : argv,
      cwd: opts.cwd ?? tmpdir(),
      env: cleanEnv(opts.env),
      timeoutMs: opts.timeoutMs ?? 15_000,
      readyLine: (line, stream) => {
        if (stream !== 'stdout') return false
        let rec: Record<string, unknown>
        try { rec = JSON.parse(line) as Record<string, unknown> } catch { return false }
        if (rec === null || typeof rec !== 'object') return false
        logs.push(rec)
        if (rec.ready !== true) return false
        found = {}
        const rank = (host: string): number => host === '127.0.0.1' ? 2 : 1
        const best: Record<string, number> = {}
        for (const a of (rec.addresses ?? []) as Array<{ protocol: string, host: string, port: number }>) {
          if (a.host === '::1') continue
          if ((best[a.protocol] ?? 0) <= rank(a.host)) {
            best[a.protocol] = rank(a.host)
            found[a.protocol] = a.port
          }
        }
        return true
      }
    })
    // keep parsing the log after ready
    const p = current
    let buf = ''
    p.proc.stdout!.on('data', (d: string) => {
      buf += d
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          const rec = JSON.parse(line) as unknown
          if (rec !== null && typeof rec === 'object') logs.push(rec as Record<string, unknown>)
        } catch { /* not JSON (pretty output) */ }
      }
    })
    ports = found ?? {}
  }

  t.teardown(async () => { await current?.stop('SIGKILL') })
  await spawnOnce()

  const running = (): ManagedProcess => {
    if (current === null) throw new Error('culex is not running')
    return current
  }
  return {
    get proc () { return running().proc },
    get pid () { return running().pid },
    get ports () { return ports },
    get port () { return ports.mqtt ?? 0 },
    logs,
    stderr: () => running().stderr(),
    log: () => running().log(),
    get exited () { return running().exited },
    stop: async (signal = 'SIGTERM', graceMs = 5000) => await running().stop(signal, graceMs),
    restart: async () => {
      await current?.stop('SIGTERM')
      // the same ports: every `--x-port 0` becomes the port it got
      argv = argv.map((a, i) => {
        const proto = Object.keys(PORT_FLAGS).find((k) => PORT_FLAGS[k] === argv[i - 1])
        return proto !== undefined && a === '0' && ports[proto] !== undefined ? String(ports[proto]) : a
      })
      // between the stop and the start another process may briefly hold one of them
      // (it was free, so port 0 may hand it out): retry for a while
      for (let attempt = 0; ; attempt++) {
        try {
          await spawnOnce()
          return
        } catch (err) {
          if (attempt >= 20 || !String((err as Error).message).includes('EADDRINUSE')) throw err
          await sleep(250)
        }
      }
    }
  }
}

/** Run culex to completion (config errors, --help, passwd): its exit code and output. */
export async function runCulex (args: string[], opts: { env?: Record<string, string>, cwd?: string, timeoutMs?: number } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const proc = spawn(process.execPath, [CULEX_CLI, ...args], { cwd: opts.cwd ?? tmpdir(), env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 10_000)
  const [code] = await once(proc, 'close') as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}
