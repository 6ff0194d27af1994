/**
 * Runs one scenario from parsed options: against the target broker, or against the
 * in-process relay with `ceiling`. Every client is closed afterwards, whatever happened,
 * and the first fatal error (dropped connection, malformed frame) wins over later ones.
 */
import type { BenchOptions } from './args.ts'
import { RunContext } from './context.ts'
import { startRelay, type Relay } from './relay.ts'
import type { BenchResult } from './result.ts'
import { runBacklog } from './scenarios/backlog.ts'
import { runOverload } from './scenarios/overload.ts'
import { runLatency } from './scenarios/latency.ts'
import { runRetained } from './scenarios/retained.ts'
import { runStalled } from './scenarios/stalled.ts'
import { runStorm } from './scenarios/storm.ts'
import { runThroughput } from './scenarios/throughput.ts'

/**
 * Runs the scenario named in `options`.
 * @throws BenchError (BENCH_ERR_UNREACHABLE, _REFUSED, _DISCONNECTED, _TIMEOUT, _PROTOCOL, _BAD_ARGUMENT)
 */
export async function runScenario (options: BenchOptions): Promise<BenchResult> {
  let relay: Relay | null = null
  let host = options.host
  let port = options.port
  if (options.ceiling) {
    relay = await startRelay()
    host = '127.0.0.1'
    port = relay.port
  }
  const ctx = new RunContext(options, host, port)
  try {
    const work = (() => {
      switch (options.scenario) {
        case 'fan-in':
        case 'fan-out': return runThroughput(ctx)
        case 'latency': return runLatency(ctx)
        case 'storm': return runStorm(ctx)
        case 'backlog': return runBacklog(ctx)
        case 'retained': return runRetained(ctx)
        case 'overload': return runOverload(ctx)
        case 'stalled': return runStalled(ctx)
      }
    })()
    // after a fatal error the scenario itself rejects too, later: that is expected, not unhandled
    work.catch(() => {})
    const result = await Promise.race([work, ctx.failed])
    if (options.ceiling) {
      result.label = result.label === '' ? 'ceiling (in-process relay)' : result.label
      result.warnings.push('ceiling: the relay shares this process and its CPU with the generator')
    }
    return result
  } catch (err) {
    throw ctx.error ?? err
  } finally {
    await ctx.closeAll()
    if (relay !== null) await relay.close()
  }
}
