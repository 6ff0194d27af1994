/**
 * The real `culex` process (apps/broker/dist/cli.js, started by @culex/test-kit) for the
 * end-to-end suites: on a free port, with the environment's CULEX_* variables removed,
 * killed at teardown.
 */
import type { ChildProcess } from 'node:child_process'
import { startCulex as start } from '@culex/test-kit'
import type { Test } from 'tap'

export { CULEX_CLI, culexSkip } from '@culex/test-kit'

// far above what a run publishes: the bound's drop-oldest policy must not be what we measure
const MAX_QUEUED = 1_000_000

/** A started culex: its process, its MQTT port on 127.0.0.1, and a promise of its exit. */
export interface Running { proc: ChildProcess, port: number, exited: Promise<void> }

/**
 * Start culex with `args` in `cwd` and wait for its ready line. A queue bound far above any
 * run is set first, so a suite measures loss, not the drop-oldest policy; `args` may override it.
 */
export async function startCulex (t: Test, args: string[], cwd: string): Promise<Running> {
  const culex = await start(t, ['--sys-interval', '0', '--max-queued-messages', String(MAX_QUEUED), ...args], { cwd })
  return { proc: culex.proc, port: culex.port, exited: culex.exited.then(() => {}) }
}
