/**
 * Starting the real `culex` process (apps/broker/dist/cli.js) for end-to-end suites: on a free
 * port, with the environment's CULEX_* variables removed, killed at teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

/** The culex CLI of this repository (built by `npm run build -w culex`). */
export const CULEX_CLI = fileURLToPath(new URL('../../../apps/broker/dist/cli.js', import.meta.url))

// far above what a run publishes: the bound's drop-oldest policy must not be what we measure
const MAX_QUEUED = 1_000_000

/** A started culex: its process, its MQTT port on 127.0.0.1, and a promise of its exit. */
export interface Running { proc: ChildProcess, port: number, exited: Promise<void> }

/**
 * Start culex with `args` in `cwd` and wait for its ready line. A queue bound far above any
 * run is set first, so a suite measures loss, not the drop-oldest policy; `args` may override it.
 */
export async function startCulex (t: Test, args: string[], cwd: string): Promise<Running> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CULEX_') && !k.startsWith('NODE_V8_COVERAGE') && k !== 'NODE_OPTIONS') env[k] = v
  const proc = spawn(process.execPath, [CULEX_CLI, '--port', '0', '--sys-interval', '0', '--max-queued-messages', String(MAX_QUEUED), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => { proc.once('exit', () => { resolve() }) })
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    await exited
  })
  let err = ''
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  const port = await new Promise<number>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => { reject(new Error(`culex not ready in 15 s; stderr: ${err}`)) }, 15_000)
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        let rec: { ready?: boolean, addresses?: Array<{ protocol: string, host: string, port: number }> }
        try { rec = JSON.parse(line) } catch { continue }
        const a = rec.ready === true ? rec.addresses?.find((x) => x.protocol === 'mqtt' && x.host === '127.0.0.1') : undefined
        if (a !== undefined) {
          clearTimeout(timer)
          resolve(a.port)
        }
      }
    })
    exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`culex exited before ready; stderr: ${err}`))
    }, () => {})
  })
  return { proc, port, exited }
}

/**
 * Whether end-to-end tests can run: false when culex is built; a skip reason when it is not;
 * null (after failing `t`) when it is not built under CI (`CI` set), where turbo builds the
 * app before these tests and a missing build is a failure, not a silent gap.
 */
export function culexSkip (t: Test, what: string): string | false | null {
  if (existsSync(CULEX_CLI)) return false
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    t.fail(`the culex app is not built (${CULEX_CLI} missing): ${what} cannot run`)
    return null
  }
  return `the culex app is not built (${CULEX_CLI} missing; npm run build -w @culex/cli)`
}
