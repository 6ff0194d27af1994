/**
 * A child process a test owns: started, watched until it says it is ready, its output kept,
 * and stopped by its PID (SIGTERM, then SIGKILL after a grace period). Every process started
 * here is also SIGKILLed if the test process exits without its teardown, or is ended by a
 * signal (SIGALRM: tap's timeout; SIGTERM, SIGINT), so none is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What the helpers need of a tap `Test`: somewhere to register the cleanup. */
export interface Teardown { teardown: (fn: () => unknown) => void }

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface ManagedProcess {
  readonly proc: ChildProcess
  readonly pid: number
  /** Everything it wrote so far, stdout and stderr interleaved as they arrived. */
  log: () => string
  stdout: () => string
  stderr: () => string
  /** Resolves once it has exited. */
  exited: Promise<Exit>
  /** `signal` (default SIGTERM) to its PID, SIGKILL after `graceMs` (default 5000); resolves once it is gone. */
  stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<Exit>
}

export interface StartProcessOptions {
  /** Names the process in error messages, e.g. `redis-server on 4711`. */
  name: string
  command: string
  args: string[]
  cwd?: string
  env?: NodeJS.ProcessEnv
  /**
   * Called with every complete line of stdout and stderr: ready once it returns true. Or a
   * promise that resolves when ready (e.g. a port that accepts connections). Both given:
   * ready when either says so. `signal` is aborted once the start is over (ready, exited,
   * timed out): a probe that polls stops then instead of keeping the test process alive.
   */
  readyLine?: (line: string, stream: 'stdout' | 'stderr') => boolean
  readyWhen?: (p: ManagedProcess, signal: AbortSignal) => Promise<void>
  /** Milliseconds to wait for readiness (default 15000); then it is killed and the start fails. */
  timeoutMs?: number
}

const live = new Set<ChildProcess>()
let reaperInstalled = false
function reaper (): void {
  for (const p of live) {
    try { p.kill('SIGKILL') } catch { /* gone */ }
  }
}

// Killed by a signal, a process never emits 'exit': tap ends a test file that times out with
// SIGALRM (a runner may send SIGTERM, a user SIGINT; not SIGHUP, which reload tests use).
// Kill the children, then let the signal do what it would have done: raised again with this
// listener gone (tap's own signal-exit listener, which stood aside while another one was
// there, then handles it as usual).
const FATAL: NodeJS.Signals[] = ['SIGALRM', 'SIGTERM', 'SIGINT']
function onFatal (signal: NodeJS.Signals): void {
  reaper()
  for (const sig of FATAL) process.removeListener(sig, onFatal)
  process.kill(process.pid, signal)
}

function signalPid (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch { /* already gone */ }
}

/** The last `n` characters of a log, for error messages. */
export function tail (text: string, n = 4000): string {
  return text.length <= n ? text : `…${text.slice(-n)}`
}

/**
 * Start `command` and resolve once it is ready. It is not registered in any teardown: the
 * caller stops it (the culex/redis/mosquitto helpers do, at their test's teardown).
 * Rejects, with the output so far, when it exits or times out before being ready.
 */
export async function startProcess (opts: StartProcessOptions): Promise<ManagedProcess> {
  const proc = spawn(opts.command, opts.args, { cwd: opts.cwd ?? tmpdir(), env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (!reaperInstalled) {
    reaperInstalled = true
    process.once('exit', reaper)
    for (const sig of FATAL) process.on(sig, onFatal)
  }
  live.add(proc)
  let all = ''
  let out = ''
  let err = ''
  let exit: Exit | null = null
  let spawnFailed: (e: Error) => void = () => {}
  const spawnError = new Promise<Error>((resolve) => { spawnFailed = resolve })
  const exited = new Promise<Exit>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      live.delete(proc)
      exit ??= { code, signal }
      resolve(exit)
    }
    proc.once('exit', done)
    // a command that cannot be spawned (ENOENT) never exits: it is done all the same
    proc.once('error', (e) => {
      spawnFailed(e)
      done(null, null)
    })
  })
  let onLine: ((line: string, stream: 'stdout' | 'stderr') => void) | null = null
  const watch = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): void => {
    let buf = ''
    stream.setEncoding('utf8')
    stream.on('data', (d: string) => {
      all += d
      if (name === 'stdout') out += d
      else err += d
      buf += d
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        onLine?.(line, name)
      }
    })
  }
  watch(proc.stdout!, 'stdout')
  watch(proc.stderr!, 'stderr')
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<Exit> => {
    if (exit !== null) return exit
    if (proc.pid !== undefined) signalPid(proc.pid, signal)
    const timer = setTimeout(() => { if (proc.pid !== undefined) signalPid(proc.pid, 'SIGKILL') }, graceMs)
    const e = await exited
    clearTimeout(timer)
    return e
  }
  const managed: ManagedProcess = {
    proc,
    pid: proc.pid ?? -1,
    log: () => all,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop
  }
  const timeoutMs = opts.timeoutMs ?? 15_000
  let timer: NodeJS.Timeout | undefined
  const over = new AbortController()
  try {
    await Promise.race([
      spawnError.then((e) => { throw new Error(`${opts.name} could not be started: ${e.message}`) }),
      new Promise<void>((resolve) => {
        const { readyLine } = opts
        if (readyLine !== undefined) onLine = (line, stream) => { if (readyLine(line, stream)) resolve() }
        if (opts.readyWhen !== undefined) opts.readyWhen(managed, over.signal).then(resolve, () => {})
      }),
      exited.then((e) => { throw new Error(`${opts.name} exited (${e.code ?? e.signal}) before it was ready; output:\n${tail(all)}`) }),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error(`${opts.name} not ready within ${timeoutMs} ms; output:\n${tail(all)}`)) }, timeoutMs)
      })
    ])
  } catch (e) {
    await stop('SIGKILL')
    throw e
  } finally {
    clearTimeout(timer)
    over.abort()
    onLine = null
  }
  return managed
}

/** A fresh temp directory, removed at `t`'s teardown. */
export function tempDir (t: Teardown, prefix = 'culex-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * What `p` resolves to, or `late` if `ms` pass first. The timer is cleared as soon as `p`
 * settles: a bare `Promise.race([p, sleep(ms)])` leaves it pending, and a pending timer keeps
 * the test process (and so the whole tap run) waiting out the rest of `ms` after its last test.
 */
export async function within<T, L = T> (p: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<L>((resolve) => { timer = setTimeout(() => { resolve(late) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}
