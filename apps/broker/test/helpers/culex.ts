// The `culex` process for this app's tests, from @culex/test-kit with this app's defaults:
// `--store memory` unless a `--store` is given (`--port 0` comes from the kit).
import { startCulex as start, type Culex, type CulexOptions, type Teardown } from '@culex/test-kit'

export { CULEX_CLI as CLI, cleanEnv, runCulex, hasBinary, makePki, tempDir, type Culex, type Pki } from '@culex/test-kit'

/** Spawn culex with `args` (default `--store memory`) and wait for its "ready" line; killed at `t`'s teardown. */
export async function startCulex (t: Teardown, args: string[] = [], opts: CulexOptions = {}): Promise<Culex> {
  return await start(t, args.includes('--store') ? args : ['--store', 'memory', ...args], opts)
}
