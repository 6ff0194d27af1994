// The operator HTTP listener of the real culex process: health, readiness, Prometheus
// metrics (checked by promtool), the Ponte-style REST API, the admin API, each refusal
// (401, 403, 400, 404, 405, 413) over real HTTP, and the client log lines.
import { join } from 'node:path'
import t from 'tap'
import { startCulex, tempDir } from './helpers/culex.ts'
import { operatorArgs, operatorSuite } from './helpers/operator-suite.ts'

// on the default store (LevelDB), so the store latency histogram times real disk writes
const dir = tempDir(t)
const culex = await startCulex(t, [...operatorArgs(dir), '--store', 'level', '--data-dir', join(dir, 'data')])
operatorSuite(t, culex)
