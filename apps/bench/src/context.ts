/**
 * RunContext: what every scenario shares — the target address, client creation with
 * tracking (so everything is closed at the end, whatever happens), the first fatal error,
 * interruptible sleeps, and the progress line.
 */
import { BenchClient } from './client.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import type { BenchOptions } from './args.ts'

export class RunContext {
  readonly options: BenchOptions
  readonly host: string
  readonly port: number
  readonly clients = new Set<BenchClient>()
  /** Rejects with the first fatal error (a dropped connection, a malformed frame). */
  readonly failed: Promise<never>
  #fail!: (err: BenchError) => void
  #error: BenchError | null = null
  #progressTimer: NodeJS.Timeout | null = null
  #seq = 0

  constructor (options: BenchOptions, host: string, port: number) {
    this.options = options
    this.host = host
    this.port = port
    this.failed = new Promise<never>((_resolve, reject) => { this.#fail = reject })
    this.failed.catch(() => {})
  }

  /** The first fatal error, or null. */
  get error (): BenchError | null { return this.#error }

  /** Records a fatal error (first one wins). */
  fail (err: BenchError): void {
    if (this.#error !== null) return
    this.#error = err
    this.#fail(err)
  }

  /** Throws the fatal error if one happened. */
  check (): void {
    if (this.#error !== null) throw this.#error
  }

  /** A client id unique within this run. */
  clientId (role: string): string {
    return `cb-${role}-${process.pid}-${this.#seq++}`
  }

  /** Connects a tracked client. */
  async connect (role: string, opts: { clientId?: string, clean?: boolean } = {}): Promise<BenchClient> {
    this.check()
    const c = await BenchClient.connect({
      host: this.host,
      port: this.port,
      clientId: opts.clientId ?? this.clientId(role),
      clean: opts.clean ?? true,
      timeout: this.options.timeout,
      onFatal: (err) => this.fail(err)
    })
    this.clients.add(c)
    return c
  }

  /** Closes one tracked client gracefully. */
  async release (c: BenchClient): Promise<void> {
    this.clients.delete(c)
    await c.close()
  }

  /** Sleeps `ms`, or rejects early with the fatal error. */
  sleep (ms: number): Promise<void> {
    let t: NodeJS.Timeout | undefined
    return Promise.race([
      new Promise<void>((resolve) => { t = setTimeout(resolve, ms) }),
      this.failed
    ]).finally(() => clearTimeout(t))
  }

  /**
   * Waits until `done()` is true, polling every 2 ms. Fails with BENCH_ERR_TIMEOUT when
   * `progress()` has not changed for the run's timeout, naming `what`.
   */
  async waitFor (what: string, done: () => boolean, progress: () => number): Promise<void> {
    let last = progress()
    let since = Date.now()
    while (!done()) {
      await this.sleep(2)
      const now = progress()
      if (now !== last) { last = now; since = Date.now() } else if (Date.now() - since > this.options.timeout * 1000) {
        throw new BenchError(BenchErrorCode.timeout, `${what}: no progress from broker at ${this.host}:${this.port} for ${this.options.timeout} s (at ${now})`)
      }
    }
  }

  /** Starts a progress line on stderr (only when options.progress). */
  startProgress (line: () => string): void {
    if (!this.options.progress) return
    this.#progressTimer = setInterval(() => { process.stderr.write(`\r\x1b[K${line()}`) }, 500)
    this.#progressTimer.unref()
  }

  stopProgress (): void {
    if (this.#progressTimer === null) return
    clearInterval(this.#progressTimer)
    this.#progressTimer = null
    process.stderr.write('\r\x1b[K')
  }

  /** Closes every tracked client (gracefully, in parallel). */
  async closeAll (): Promise<void> {
    this.stopProgress()
    const all = [...this.clients]
    this.clients.clear()
    await Promise.all(all.map(c => c.close()))
  }
}
