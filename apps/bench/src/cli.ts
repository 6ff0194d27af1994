#!/usr/bin/env node
/**
 * culex-bench: MQTT load generator. See USAGE in args.ts, or run with --help.
 * Exit codes: 0 ok, 1 run failed (broker unreachable, dropped connection, timeout), 2 bad arguments.
 */
import { USAGE, parseCliArgs } from './args.ts'
import { BenchErrorCode, isBenchError } from './errors.ts'
import { formatResult } from './report.ts'
import { runScenario } from './run.ts'

async function main (): Promise<number> {
  let parsed
  try {
    parsed = parseCliArgs(process.argv.slice(2), { isTTY: process.stderr.isTTY })
  } catch (err) {
    process.stderr.write(`culex-bench: ${(err as Error).message}\nRun culex-bench --help for usage.\n`)
    return 2
  }
  if (parsed.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const o = parsed.options
  try {
    const result = await runScenario(o)
    process.stdout.write(o.json ? JSON.stringify(result) + '\n' : formatResult(result))
    return 0
  } catch (err) {
    const code = isBenchError(err) ? err.code : 'BENCH_ERR_INTERNAL'
    const message = (err as Error).message
    if (o.json) process.stdout.write(JSON.stringify({ type: 'error', scenario: o.scenario, label: o.label, code, message }) + '\n')
    process.stderr.write(`culex-bench: ${o.scenario} failed: ${message} [${code}]\n`)
    return code === BenchErrorCode.badArgument ? 2 : 1
  }
}

main().then((code) => {
  process.exitCode = code
  // sockets are closed by then; exit promptly even if a timer from the broker side lingers
  setTimeout(() => process.exit(code), 200).unref()
}, (err: unknown) => {
  process.stderr.write(`culex-bench: internal error: ${String((err as Error).stack ?? err)}\n`)
  process.exit(1)
})
